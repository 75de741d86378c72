# calico-plan — the two commands a new machine needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/calico-plan
PKGS      := ./...
DEMO_OUT  ?= demo-out

.PHONY: all build test vet fmt-check demo demo-data bench proto fuzz clean

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
	./$(BIN) status --store $(DEMO_OUT)/allowlists --now 2026-11-27
	./$(BIN) waves --store $(DEMO_OUT)/allowlists --cluster testdata/demo/cluster.yaml
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

# Speed and memory figures (README, "Performance"). Takes a few minutes and
# several GB of RAM (the Elasticsearch benchmark serves 1,000,000 documents).
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkObserve' -benchtime 1000000x ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkDecode' -benchtime 20x ./flows
	$(GO) test -run '^$$' -bench 'BenchmarkEvaluate' -benchtime 1000000x -cpu 1,2 ./internal/policy
	CALICO_PLAN_MEMTEST=1 $(GO) test -count=1 -run '^TestMemoryBoundedByEntries$$' -v ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkElasticsearch' -benchtime 1x ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkCheckClusterScale' -benchtime 3x ./internal/check
	$(GO) test -run '^$$' -bench 'BenchmarkStoreAtRef' -benchtime 10x ./internal/diff
	$(GO) test -run '^$$' -bench 'BenchmarkRenderAddresses' -benchtime 5x -benchmem ./render
	$(GO) test -run '^$$' -bench 'BenchmarkAggregateDistinctAddresses' -benchtime 2000000x ./allowlist

# Fuzz the selector parser and the flow decoders (FUZZTIME each, default 10m).
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz 'FuzzParseSelector$$' -fuzztime $(FUZZTIME) ./internal/policy/selector
	$(GO) test -run '^$$' -fuzz 'FuzzDecodeEnterprise$$' -fuzztime $(FUZZTIME) ./flows
	$(GO) test -run '^$$' -fuzz 'FuzzDecodeGoldmane$$' -fuzztime $(FUZZTIME) ./flows
	$(GO) test -run '^$$' -fuzz 'FuzzPacketLog$$' -fuzztime $(FUZZTIME) ./flows

# Regenerate the Goldmane gRPC stubs (needs protoc: apt-get install protobuf-compiler).
proto:
	sh flows/goldmanepb/gen.sh
