module github.com/huddle-go/huddle/signaling/redisbroker

go 1.26.0

require github.com/huddle-go/huddle v0.0.0-00010101000000-000000000000

require (
	github.com/huddle-go/huddle/internal/redistest v0.0.0-00010101000000-000000000000
	github.com/matryer/is v1.4.1
	github.com/redis/go-redis/v9 v9.24.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/huddle-go/huddle => ../..

replace github.com/huddle-go/huddle/internal/redistest => ../../internal/redistest
