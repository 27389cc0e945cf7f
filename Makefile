# authd — build, run and test. `make run` and `make test` are all a
# newcomer needs.
GO      ?= go
BIN     := bin/authd
DB      ?= authd.db
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: all build run test test-short lint vet fmt bench bench-long bench-scale fuzz clean
.PHONY: test-faults

all: build

## build: bin/authd, statically linked (no cgo): it runs on any Linux of
## its architecture, with or without a C library.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/authd

## run: build and start authd on ./authd.db with a demo client and user.
run: build
	./$(BIN) --db $(DB) serve --dev

## test: vet, then every test under the race detector (fuzz seeds included).
test: vet
	$(GO) test -race -count=1 -timeout 12m ./...

test-short:
	$(GO) test -short -count=1 ./...

## bench: authd against the machine's own ceilings (issue 7), one long run.
bench: build
	$(GO) run ./cmd/authd-bench --authd $(BIN)

## bench-long: three long runs, medians reported (the figures for the README).
bench-long: build
	$(GO) run ./cmd/authd-bench --authd $(BIN) --runs 3 --json bench.json

## bench-scale: refresh latency, file size, start-up and sweep at 1k and 1M live refresh families.
bench-scale: build
	$(GO) run ./cmd/authd-bench --authd $(BIN) --scale --json bench-scale.json

## fuzz: run every fuzz target of every package in turn for FUZZTIME each
## (found with go test -list, so a new or moved target is never missed;
## seed corpora under testdata/fuzz run in make test).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for fn in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$fn in $$pkg for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; done; done

## test-faults: the long crash, hostile-input, model, rotation and resource-fault tests (issue 6).
test-faults:
	AUTHD_LONG=1 $(GO) test -race -count=1 -timeout 60m -v ./test/...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
