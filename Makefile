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
# nomsgpack leaves gin's MessagePack codec (ugorji/go/codec) out of the
# binary: the PS never reads or writes MessagePack, and the codec was a
# tenth of its idle RSS (docs/decisions.md). The Dockerfile builds the same.
BUILD_TAGS := nomsgpack

.PHONY: all build run test test-short test-reliability test-reliability-run test-faults-run prereqs lint fuzz fuzz-long bench load generate verify docker image clean interop-mockin

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/aauth-ps
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aauth-agent ./cmd/aauth-agent
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aauth-conformance ./cmd/aauth-conformance

# Starts the PS on the embedded database in development mode.
run: build
	./$(BIN) serve --dev --issuer http://localhost:$(DEV_PORT) --listen 127.0.0.1:$(DEV_PORT)

# Every test, PostgreSQL and browser ones included, with the race detector,
# after the static gates (formatting, vet, staticcheck, generated-code drift).
# `make image` runs first: internal/ociimage's TestImage inspects the very
# archive it wrote (AAUTH_IMAGE_TAR). The longest packages are listed
# first so that go test starts them first: on 2 cores the rest then fills
# the other slot instead of a long package running alone at the end.
LONG_PKGS := $(addprefix github.com/aauth-ps/aauth-ps/,cmd/aauth-conformance ps/browsertest ps/app)
test: prereqs verify image
	AAUTH_IMAGE_TAR=$(CURDIR)/$(IMAGE_TAR) $(GO) test -race -count=1 -timeout 25m $$($(GO) list $(PKGS) | grep -v '/internal/reliability$$' | \
		awk -v long='$(LONG_PKGS)' 'BEGIN { n = split(long, l, " "); for (i = 1; i <= n; i++) first[l[i]] = 1 } \
		first[$$0] { head = head " " $$0; next } { tail = tail " " $$0 } END { print head tail }')
	$(MAKE) --no-print-directory -j2 --output-sync=target test-faults-run test-reliability-run

# The suite's test against deliberately faulty builds (the aauthfaults tag)
# and the reliability tests mostly wait (the suite's Retry-After pauses and
# token expiries; killed and restarted processes), so `make test` runs the
# two side by side, each with its output kept together.
test-faults-run:
	$(GO) test -race -count=1 -timeout 15m -tags aauthfaults -run 'TestSuiteCatchesFaults|TestSet' ./cmd/aauth-conformance/ ./ps/faults/

# Crash, replica and database-restart tests: the real binary as
# subprocesses on PostgreSQL (internal/reliability; docs/operations.md,
# Reliability). Part of `make test`; alone here.
test-reliability: prereqs
	$(MAKE) --no-print-directory test-reliability-run

test-reliability-run:
	$(GO) test -race -count=1 -timeout 10m -v ./internal/reliability

# The conformance suite against another PS: @hellocoop/mockin (pinned in
# conformance/interop/node) on loopback behind TLS; prints its table and
# fails when its differences change (docs/interop.md explains each).
interop-mockin: prereqs
	mkdir -p bin
	AAUTH_MOCKIN_REPORT=$(CURDIR)/bin/mockin-report.txt $(GO) test -count=1 -run TestInteropMockin ./cmd/aauth-conformance/
	@cat bin/mockin-report.txt

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

# Every fuzz target for FUZZTIME each, 10 minutes unless FUZZTIME is given
# (make fuzz-long FUZZTIME=1h). A crasher is written by go test to the
# package's testdata/fuzz/<Target>/ and from then on runs as a regression
# input in every `go test`: commit it with the fix. All targets run even
# after a failure; the run fails if any did and lists the new inputs.
fuzz-long:
	@fuzztime=$(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),10m); failed=; \
	for spec in $$($(GO) run ./internal/tools/listfuzz); do \
		pkg=$${spec%%:*}; name=$${spec##*:}; \
		echo "== $$pkg $$name ($$fuzztime)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$fuzztime $$pkg || failed="$$failed $$pkg:$$name"; \
	done; \
	git status --porcelain --untracked-files=all -- '*/testdata/fuzz/*' | sed 's/^/new regression input: /'; \
	if [ -n "$$failed" ]; then echo "fuzz-long: failing targets:$$failed"; exit 1; fi

# Speed and memory targets are checked by benchmarks, never by timed tests:
# the Go benchmarks (verification primitives, discovery cache hits,
# issuance), then the load run at a small size (docs/performance.md).
# BENCH_MISSIONS is the stored-missions comparison: the same small load
# against a PS holding 100 and then 10 000 seeded missions (compare the two
# reports' CPU per exchange and latencies; `make load LOAD='-db postgres
# -agents 16 -missions 100,100000'` is the full-size row).
BENCH_LOAD ?= -db sqlite,postgres -agents 8 -duration 3s -report ''
# The open loop below saturation: latency from each arrival's intended
# send time at a fixed offered rate (docs/performance.md, L8+).
BENCH_OPEN ?= -db sqlite -agents 64 -duration 3s -rate 10,20 -report ''
BENCH_MISSIONS ?= -db postgres -agents 8 -duration 3s -peer=false -missions 100,10000 -report ''
bench: prereqs build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 $(PKGS)
	$(GO) run ./internal/tools/loadrun $(BENCH_LOAD)
	$(GO) run ./internal/tools/loadrun $(BENCH_OPEN)
	$(GO) run ./internal/tools/loadrun $(BENCH_MISSIONS)

# The full load run on both databases, with @hellocoop/mockin in the same
# run; each run appends a dated row to docs/performance.md.
LOAD ?= -db sqlite,postgres -agents 16,64 -duration 10s
load: prereqs build
	$(GO) run ./internal/tools/loadrun $(LOAD)

generate:
	$(GO) tool templ generate

# Fails when generated code, formatting or go.mod drift from their sources.
verify: lint
	$(GO) tool templ generate
	$(GO) mod tidy
	git diff --exit-code -- '*_templ.go' go.mod go.sum || { echo 'generated files or go.mod are out of date: run make generate / go mod tidy and commit'; exit 1; }

docker:
	docker build -t aauth-ps:$(VERSION) -t aauth-ps:latest .

# The container image without Docker: an OCI archive assembled from scratch
# (static binary, CA certificates, user 65532, no shell); see
# docs/operations.md. Load it with `docker load -i` or `podman load -i`.
IMAGE_TAR ?= bin/aauth-ps-image.tar
image: build
	$(GO) run ./internal/tools/mkimage -binary $(BIN) -version $(VERSION) -out $(IMAGE_TAR)

clean:
	rm -rf bin
