# calico-plan — the two commands a new machine needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/calico-plan
PKGS      := ./...
DEMO_OUT  ?= demo-out

.PHONY: all build test vet lint fmt-check docs demo demo-data bench bench-observe bench-cold-demo proto fuzz clean e2e e2e-kube e2e-terraform e2e-report

all: build

# -trimpath and -s -w as deploy/Dockerfile builds it: no local paths, no
# symbol table or DWARF (stack traces keep their function names).
build:
	$(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/calico-plan

# The README's test command: vet, formatting, and every test.
test: vet fmt-check lint
	$(GO) test -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e $(PKGS)

# staticcheck and gocyclo, pinned, from the module proxy (no install step);
# hack/lint/complexity.sh: no function over 100 lines or complexity 30 outside
# hack/lint/complexity-exclude.txt.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(STATICCHECK) $(PKGS)
	$(STATICCHECK) -tags e2e ./e2e/...
	GO=$(GO) sh hack/lint/complexity.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin $(DEMO_OUT)

# Regenerate docs/commands.md (every command's --help) from the commands;
# 'make test' fails when it is out of date.
docs:
	$(GO) test -count=1 -run '^TestCommandReference$$' ./cmd/calico-plan -update

# Tests against real components (README, "How it is tested"). The tools are
# built or fetched into E2E_CACHE (default ~/.cache/calico-plan/e2e) on first
# use: etcd from Debian, kube-apiserver from the Go module proxy (about 7
# CPU-minutes the first time, seconds afterwards).
e2e: e2e-kube e2e-terraform e2e-report

E2E_TOOLS := e2e/tools
e2e-kube:
	@etcd=$$(sh $(E2E_TOOLS)/etcd.sh) && \
	kas=$$(sh $(E2E_TOOLS)/kube.sh kube-apiserver) && \
	kubectl=$$(sh $(E2E_TOOLS)/kube.sh kubectl) && \
	crds=$$(sh $(E2E_TOOLS)/calico-crds.sh) && \
	echo "e2e-kube: etcd $$etcd, kube-apiserver $$kas, kubectl $$kubectl, CRDs $$crds" && \
	E2E_ETCD=$$etcd E2E_KUBE_APISERVER=$$kas E2E_KUBECTL=$$kubectl E2E_CALICO_CRDS=$$crds \
	$(GO) test -tags e2e -count=1 -timeout 20m -v ./e2e/kube

# Real Terraform on every -o hcl variant: fmt -check, init (offline, providers
# from the mirror e2e/tools/terraform-env.sh builds into E2E_CACHE/terraform),
# validate, plan.
e2e-terraform:
	$(GO) test -tags e2e -count=1 -timeout 20m -parallel 2 -v ./e2e/terraform

# The HTML page of 'calico-plan report' in headless Chromium (Debian's
# chromium, installed by e2e/tools/chromium.sh when missing and root): it
# renders, its links resolve, a screenshot is produced (kept in
# E2E_ARTIFACTS, default a new temporary directory named in the log); and
# the Markdown's mermaid block drawn by mermaid from npm (e2e/tools/mermaid.sh).
e2e-report:
	@chromium=$$(sh $(E2E_TOOLS)/chromium.sh) && \
	mermaid=$$(sh $(E2E_TOOLS)/mermaid.sh) && \
	echo "e2e-report: chromium $$chromium, mermaid $$mermaid" && \
	E2E_CHROMIUM=$$chromium E2E_MERMAID=$$mermaid $(GO) test -tags e2e -count=1 -timeout 10m -v ./e2e/report

# Observe the committed demo dataset, show the status, explain a namespace and
# render staged policies for every namespace.
demo: build
	@rm -rf $(DEMO_OUT)
	./$(BIN) observe --store $(DEMO_OUT)/allowlists --from testdata/demo/flows.log.gz --namespace-file testdata/demo/namespaces.yaml
	./$(BIN) status --store $(DEMO_OUT)/allowlists --now 2026-11-27
	./$(BIN) waves --store $(DEMO_OUT)/allowlists --cluster testdata/demo/cluster.yaml
	./$(BIN) explain --store $(DEMO_OUT)/allowlists --namespace recruiter-responder
	./$(BIN) render --store $(DEMO_OUT)/allowlists --all --flavor calico-staged --out $(DEMO_OUT)/policies/staged
	./$(BIN) render --store $(DEMO_OUT)/allowlists --all --flavor calico --out $(DEMO_OUT)/policies/enforced
	@echo
	@echo "Calico OSS: Goldmane flows carry no addresses; the observe policy's LOG lines do."
	./$(BIN) generate --out $(DEMO_OUT)/oss-data --format goldmane --packet-log=false
	./$(BIN) observe --store $(DEMO_OUT)/oss/allowlists --from $(DEMO_OUT)/oss-data/goldmane-flows.json.gz --from testdata/demo/kern.log.gz --pods testdata/demo/pods.json --namespace-file testdata/demo/namespaces.yaml
	./$(BIN) explain --store $(DEMO_OUT)/oss/allowlists --namespace recruiter-responder
	./$(BIN) render --store $(DEMO_OUT)/oss/allowlists --all --flavor calico-staged --out $(DEMO_OUT)/oss/policies/staged
	@echo
	@echo "demo output:"
	@echo "  allowlists (commit these):   $(DEMO_OUT)/allowlists/"
	@echo "  staged policies (apply first): $(DEMO_OUT)/policies/staged/"
	@echo "  enforced policies (Stable namespaces only): $(DEMO_OUT)/policies/enforced/"
	@echo "  Calico OSS staged policies with packet-log addresses: $(DEMO_OUT)/oss/policies/staged/"

# Regenerate the committed demo dataset (deterministic: same bytes every time).
demo-data: build
	./$(BIN) generate --out testdata/demo

# Speed and memory figures (README, "Performance"). Takes a few minutes and
# several GB of RAM (the Elasticsearch benchmark serves 1,000,000 documents).
bench:
	$(GO) test -run '^$$' -bench 'BenchmarkObserve$$' -benchtime 1000000x ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkObserveFile' -benchtime 3x ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkDecode' -benchtime 20x ./flows
	$(GO) test -run '^$$' -bench 'BenchmarkEvaluate' -benchtime 1000000x -cpu 1,2 ./internal/policy
	CALICO_PLAN_MEMTEST=1 $(GO) test -count=1 -run '^TestMemoryBoundedByEntries$$' -v ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkElasticsearch' -benchtime 1x ./internal/observe
	$(GO) test -run '^$$' -bench 'BenchmarkCheckClusterScale' -benchtime 3x ./internal/check
	$(GO) test -run '^$$' -bench 'BenchmarkStoreAtRef' -benchtime 10x ./internal/diff
	$(GO) test -run '^$$' -bench 'BenchmarkRenderAddresses' -benchtime 5x -benchmem ./render
	$(GO) test -run '^$$' -bench 'BenchmarkAggregateDistinctAddresses' -benchtime 2000000x ./allowlist
	$(MAKE) bench-observe
	$(MAKE) bench-cold-demo

# observe end to end (the CLI on a generated file) next to its yardsticks:
# cat, sha256sum, gzip -dc, a Python json+dict script and jq on the same file.
bench-observe:
	GO=$(GO) sh hack/bench/observe.sh

# make demo from an empty module and build cache (a fresh machine's first run).
bench-cold-demo:
	GO=$(GO) sh hack/bench/cold-demo.sh

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
