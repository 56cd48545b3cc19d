// Command loadgen is Huddle's chat load tool. It connects N WebSocket clients to a server,
// spreads them round-robin over R rooms (each client joins its room), and sends chat messages
// open-loop: a scheduler hands out a message every 1/rate seconds, to the clients in turn,
// whether or not earlier messages were answered. Every message carries the time the scheduler
// handed it to its client ("t=<unixnano>|" at the start of the content, "w=" during the warmup),
// so every receipt (each member of the room, the sender's own echo included) yields an
// end-to-end latency, time spent queued behind the client's earlier messages included. How late
// the scheduler's timer woke up is reported apart, as its lag. After -warmup and -duration it stops by itself, waits up to -drain for the
// last deliveries, makes every client leave its room and close with 1000, and prints a report:
//
//	go run ./examples/server -dev-auth -addr 127.0.0.1:18080 -log-level warn &
//	go run ./examples/loadgen -url ws://127.0.0.1:18080/ws -clients 200 -rooms 20 -rate 500 -duration 10s
//
// The report gives the clients connected, the messages sent in the measured window, the
// deliveries received against those expected (members × messages) and their ratio, the errors
// by code (the server's `error` events, such as rate_limited, and client-side failures), the
// latency percentiles (p50, p90, p99, p99.9, max, from a log-linear histogram with under 1%
// error), and the throughput in deliveries per second. SIGINT stops the run early with a
// partial report; a second SIGINT kills the tool.
//
// # Flags
//
//	-url            WebSocket endpoint ($HUDDLE_URL; default ws://127.0.0.1:8080/ws); several,
//	                comma-separated, are the nodes of one cluster: each room's clients are
//	                spread over them
//	-token-secret   HS256 secret: authenticate with minted JWTs ($HUDDLE_JWT_SECRET; default:
//	                the dev authenticator's ?user=load-<i>&name=Load <i>)
//	-clients        clients (default 100)
//	-rooms          rooms, clients spread round-robin (default 10)
//	-rate           messages per second across all clients (default 200)
//	-duration       measured time (default 10s)
//	-warmup         load before the measurement, not counted (default 2s)
//	-drain          longest wait for the last deliveries after sending stops (default 5s)
//	-content-bytes  message content size, timestamp included (default 64)
//	-codec          json or json-payload (default json)
//	-connect-concurrency  dials in flight at once (default 50)
//	-allow-remote   allow a target that is not loopback
//	-server-pid     the server's pid on this machine (several, comma-separated: its nodes,
//	                summed): report its CPU time per 1000 deliveries (from the end of the
//	                warmup to the last delivery) and its memory (/proc)
//	-signal         signalling pairs (-rooms = -clients/2): each pair starts and joins a meeting
//	                in its room, and the messages are video-signal candidates to the peer
//	-idle           connect and join, then send nothing for -duration (memory per connection)
//	-row            also print the results as one markdown table row (scripts/bench-fanout)
//
// The reference server limits each session to 50 events/s (burst 100): keep -rate/-clients
// below that, or the tool warns and the report shows rate_limited errors.
//
// # Safety
//
// By default the tool refuses a -url whose host is not a loopback address (127.0.0.0/8, ::1 or
// localhost): load goes to servers on this machine only. -allow-remote lifts that, for servers
// you are responsible for.
//
// Clients are users load-0 … load-<N-1>; rooms are named load-<run>-<r> with a random run id, so
// that runs against a long-lived server do not see each other's rooms.
package main
