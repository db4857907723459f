# aauth-ps — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
PKGS      ?= ./...
DEV_PORT  ?= 8080
FUZZTIME  ?= 10s
BIN       := bin/aauth-ps
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/aauth-ps/aauth-ps/ps/version.Version=$(VERSION)

.PHONY: all build run test test-short prereqs lint fuzz bench load generate verify docker image clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/aauth-ps
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aauth-agent ./cmd/aauth-agent
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aauth-conformance ./cmd/aauth-conformance

# Starts the PS on the embedded database in development mode.
run: build
	./$(BIN) serve --dev --issuer http://localhost:$(DEV_PORT) --listen 127.0.0.1:$(DEV_PORT)

# Every test, PostgreSQL and browser ones included, with the race detector,
# after the static gates (formatting, vet, staticcheck, generated-code drift).
test: prereqs verify
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Quick loop while editing: no race detector.
test-short: prereqs
	$(GO) test -count=1 $(PKGS)

# Starts (or installs) what the tests need; fails loudly when it cannot.
prereqs:
	./.ci/prereqs

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

# Runs every fuzz target briefly (FUZZTIME each). Longer runs: make fuzz FUZZTIME=10m.
fuzz:
	@for spec in $$($(GO) run ./internal/tools/listfuzz); do \
		pkg=$${spec%%:*}; name=$${spec##*:}; \
		echo "== $$pkg $$name"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Speed and memory targets are checked by benchmarks, never by timed tests:
# the Go benchmarks (verification primitives, discovery cache hits,
# issuance), then the load run at a small size (docs/performance.md).
BENCH_LOAD ?= -db sqlite,postgres -agents 8 -duration 3s -report ''
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 $(PKGS)
	$(GO) run ./internal/tools/loadrun $(BENCH_LOAD)

# The full load run on both databases, with @hellocoop/mockin in the same
# run; each run appends a dated row to docs/performance.md.
LOAD ?= -db sqlite,postgres -agents 16,64 -duration 10s
load: build
	$(GO) run ./internal/tools/loadrun $(LOAD)

generate:
	$(GO) tool templ generate

# Fails when generated code, formatting or go.mod drift from their sources.
verify: lint
	$(GO) tool templ generate
	$(GO) mod tidy
	git diff --exit-code -- '*_templ.go' go.mod go.sum || { echo 'generated files or go.mod are out of date: run make generate / go mod tidy and commit'; exit 1; }

docker:
	docker build -t aauth-ps:$(VERSION) .

# The container image without Docker: an OCI archive assembled from scratch
# (static binary, CA certificates, user 65532, no shell); see
# docs/operations.md. Load it with `docker load -i` or `podman load -i`.
IMAGE_TAR ?= bin/aauth-ps-image.tar
image: build
	$(GO) run ./internal/tools/mkimage -binary $(BIN) -version $(VERSION) -out $(IMAGE_TAR)

clean:
	rm -rf bin
