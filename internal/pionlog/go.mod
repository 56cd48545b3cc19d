module github.com/huddle-go/huddle/internal/pionlog

go 1.26.0

require github.com/pion/logging v0.2.4

require github.com/stretchr/testify v1.12.1 // indirect

replace github.com/huddle-go/huddle => ../..
