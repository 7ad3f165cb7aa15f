module github.com/jsonevent/jsonevent

go 1.26.8

require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/go-resty/resty/v2 v2.17.2
	github.com/riverqueue/river/rivertype v0.51.2
)

require golang.org/x/net v0.43.0 // indirect
