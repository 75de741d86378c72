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

# Observe the committed demo dataset, show the status, explain a namespace and
# render staged policies for every namespace.
demo: build
	@rm -rf $(DEMO_OUT)
	./$(BIN) observe --store $(DEMO_OUT)/allowlists --from testdata/demo/flows.log.gz --namespaces testdata/demo/namespaces.yaml
	./$(BIN) status --store $(DEMO_OUT)/allowlists
	./$(BIN) explain --store $(DEMO_OUT)/allowlists --namespace recruiter-responder
	./$(BIN) render --store $(DEMO_OUT)/allowlists --all --flavor calico-staged --out $(DEMO_OUT)/policies/staged
	./$(BIN) render --store $(DEMO_OUT)/allowlists --all --flavor calico --out $(DEMO_OUT)/policies/enforced
	@echo
	@echo "demo output:"
	@echo "  allowlists (commit these):   $(DEMO_OUT)/allowlists/"
	@echo "  staged policies (apply first): $(DEMO_OUT)/policies/staged/"
	@echo "  enforced policies (Stable namespaces only): $(DEMO_OUT)/policies/enforced/"

# Regenerate the committed demo dataset (deterministic: same bytes every time).
demo-data: build
	./$(BIN) generate --out testdata/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
