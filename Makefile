# jsonevent: every task starts here. `make help` lists the targets.
GO ?= go

.PHONY: help run test test-race check bench fuzz golden tidy build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## run the service with configs/jsonevent.yaml (embedded SQLite, demo trigger)
	$(GO) build -o bin/jsonevent ./cmd/jsonevent && exec ./bin/jsonevent serve

build: ## build bin/jsonevent
	$(GO) build -o bin/jsonevent ./cmd/jsonevent

test: ## run every test (what CI runs), installing what the tests need
	./.ci/test

test-race: ## tests with the race detector
	$(GO) test -race -shuffle=on -count=1 ./...

check: ## gofmt + go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...

bench: ## benchmarks (PostgreSQL ones on a server with fsync on, like SQLite's synchronous=FULL), then the ingest load test (bare fiber vs durable endpoint, 1 KB, 64 connections)
	JSONEVENT_PG_FSYNC=on $(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) test -tags loadbench -run='^TestLoadBench$$' -count=1 -v ./core/receiver
	$(GO) test -run='^$$' -bench='^BenchmarkWorkflowEndToEnd$$' -benchtime=10000x ./core/receiver # events/s from POST to the http task delivered

# Every package with a fuzz target, found by its `func Fuzz…` (a new adapter's
# FuzzNormalize is picked up without an edit here).
FUZZ_PKGS ?= $(sort $(patsubst %/,./%,$(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' cmd core adapters))))

fuzz: ## each fuzz target for 20s
	@for p in $(FUZZ_PKGS); do for t in $$($(GO) test -list '^Fuzz' $$p | grep ^Fuzz); do \
		$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=20s $$p || exit 1; done; done

golden: ## rewrite golden files
	GOLDEN_UPDATE=1 $(GO) test ./adapters/...

tidy: ## go mod tidy
	$(GO) mod tidy
