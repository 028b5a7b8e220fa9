// +heroku goVersion go1.26
// +heroku install ./cmd/relwatch
module github.com/relwatch/relwatch

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/heroku/heroku-go/v5 v5.5.0
	github.com/sethvargo/go-retry v0.5.0
)

require (
	github.com/cenkalti/backoff v2.1.1+incompatible // indirect
	github.com/go-logfmt/logfmt v0.6.1 // indirect
	github.com/google/go-querystring v1.0.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/pborman/uuid v1.2.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
)
