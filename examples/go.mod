module github.com/huddle-go/huddle/examples

go 1.26.0

require github.com/huddle-go/huddle v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/internal/sqlitedb v0.0.0-00010101000000-000000000000 // indirect

require github.com/huddle-go/huddle/internal/pgtest v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/internal/redistest v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/internal/pionlog v0.0.0-00010101000000-000000000000 // indirect

require github.com/huddle-go/huddle/chat/sqlchat v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/meeting/sqlmeeting v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/chat/redischat v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/meeting/redismeeting v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/presence/redispresence v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/signaling/redisbroker v0.0.0-00010101000000-000000000000

require github.com/huddle-go/huddle/meeting/peer v0.0.0-00010101000000-000000000000

require (
	github.com/chromedp/cdproto v0.160.5
	github.com/chromedp/chromedp v0.24.0
	github.com/coder/websocket v1.8.15
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/google/uuid v1.6.0
	github.com/huddle-go/huddle/signaling/turnserver v0.0.0-00010101000000-000000000000
	github.com/matryer/is v1.4.1
	github.com/pion/ice/v4 v4.4.9
	github.com/pion/transport/v5 v5.1.5
	github.com/pion/turn/v4 v4.1.4
	github.com/pion/webrtc/v4 v4.2.27
	github.com/prometheus/client_golang v1.25.0
	github.com/redis/go-redis/v9 v9.24.0
	golang.org/x/crypto v0.58.0
	golang.org/x/time v0.16.0
	modernc.org/sqlite v1.63.0
)

require (
	github.com/BurntSushi/toml v1.4.1-0.20240526193622-a339e1f7089c // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.13.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/pion/datachannel v1.6.4 // indirect
	github.com/pion/dtls/v3 v3.1.16 // indirect
	github.com/pion/interceptor v0.1.51 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/mdns/v2 v2.2.2 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/rtcp v1.2.20 // indirect
	github.com/pion/rtp v1.10.6 // indirect
	github.com/pion/sctp v1.12.1 // indirect
	github.com/pion/sdp/v3 v3.0.20 // indirect
	github.com/pion/srtp/v3 v3.1.3 // indirect
	github.com/pion/stun/v3 v3.0.1 // indirect
	github.com/pion/stun/v4 v4.0.1 // indirect
	github.com/pion/transport/v3 v3.0.8 // indirect
	github.com/pion/transport/v4 v4.0.1 // indirect
	github.com/pion/turn/v5 v5.1.3 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/wlynxg/anet v0.0.5 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/exp/typeparams v0.0.0-20231108232855-2478ac86f678 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	honnef.co/go/tools v0.8.2 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)

replace github.com/huddle-go/huddle => ..

replace github.com/huddle-go/huddle/internal/sqlitedb => ../internal/sqlitedb

replace github.com/huddle-go/huddle/internal/pgtest => ../internal/pgtest

replace github.com/huddle-go/huddle/internal/redistest => ../internal/redistest

replace github.com/huddle-go/huddle/internal/pionlog => ../internal/pionlog

replace github.com/huddle-go/huddle/chat/sqlchat => ../chat/sqlchat

replace github.com/huddle-go/huddle/meeting/sqlmeeting => ../meeting/sqlmeeting

replace github.com/huddle-go/huddle/chat/redischat => ../chat/redischat

replace github.com/huddle-go/huddle/meeting/redismeeting => ../meeting/redismeeting

replace github.com/huddle-go/huddle/presence/redispresence => ../presence/redispresence

replace github.com/huddle-go/huddle/signaling/redisbroker => ../signaling/redisbroker

replace github.com/huddle-go/huddle/meeting/peer => ../meeting/peer

replace github.com/huddle-go/huddle/signaling/turnserver => ../signaling/turnserver

tool honnef.co/go/tools/cmd/staticcheck
