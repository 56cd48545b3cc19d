module github.com/huddle-go/huddle

go 1.26.0

require (
	github.com/matryer/is v1.4.1
	golang.org/x/time v0.16.0
)
