# authd — build, run and test. `make run` and `make test` are all a
# newcomer needs.
GO      ?= go
BIN     := bin/authd
DB      ?= authd.db
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 20s

.PHONY: all build run test test-short lint vet fmt bench bench-long bench-scale fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/authd

## run: build and start authd on ./authd.db with a demo client and user.
run: build
	./$(BIN) --db $(DB) serve --dev

## test: vet, then every test under the race detector (fuzz seeds included).
test: vet
	$(GO) test -race -count=1 -timeout 12m ./...

test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
