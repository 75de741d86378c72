# calico-plan — the two commands a new machine needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/calico-plan
PKGS      := ./...
DEMO_OUT  ?= demo-out

.PHONY: all build test vet fmt-check demo bench proto fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/calico-plan

# The README's test command: vet, formatting, and every test.
test: vet fmt-check
	$(GO) test -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin $(DEMO_OUT)
