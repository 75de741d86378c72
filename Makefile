# calico-plan — the two commands a new machine needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/calico-plan
PKGS      := ./...
DEMO_OUT  ?= demo-out

.PHONY: all build test vet lint fmt-check docs demo demo-pr demo-data bench bench-observe bench-cold-demo proto fuzz clean e2e e2e-kube e2e-terraform e2e-report

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

# The operator's path end to end on the committed demo dataset (README,
# "Workflow"): observe, plan, stage the pilot, flows that arrive while it is
# staged, the would-deny flows reviewed and folded in, enforce; for each step
# the pull request's diff and check (DEMO_OUT/pr-*.md), and the Terraform
# output. Every time comes from the data (--at is the newest observed flow),
# never the wall clock; later flows are generated after the staging time.
# The cluster facts start as the committed snapshot (DEMO_CLUSTER); after
# each pull request is applied, the next steps take theirs from the snapshot
# the cluster would then give (DEMO_APPLIED), which the demo, having no
# cluster to apply to, predicts offline with 'snapshot --apply'.
DEMO_CLUSTER := testdata/demo/cluster.yaml
DEMO_APPLIED  = $(DEMO_OUT)/cluster.yaml
DEMO_STORE    = $(DEMO_OUT)/allowlists
DEMO_ROLLOUT  = $(DEMO_OUT)/rollout
demo: build
	@rm -rf $(DEMO_OUT)
	@echo "== 1. observe two weeks of flows (2026-11-13 to 11-27) and plan the waves"
	./$(BIN) observe --store $(DEMO_STORE) --from testdata/demo/flows.log.gz --namespace-file testdata/demo/namespaces.yaml
	./$(BIN) status --store $(DEMO_STORE) --now 2026-11-27
	./$(BIN) waves --store $(DEMO_STORE) --cluster $(DEMO_CLUSTER)
	./$(BIN) explain --store $(DEMO_STORE) --namespace recruiter-responder
	@echo "== what the cluster runs before the first step: the desired state, applied"
	./$(BIN) render --store $(DEMO_STORE) --rollout --cluster $(DEMO_CLUSTER) --out $(DEMO_ROLLOUT)
	@echo "== 2. two more days (to 11-29): the pilot is Stable; stage it at the data's time, its gates met (not forced)"
	./$(BIN) generate --out $(DEMO_OUT)/flows-1129 --days 16 --since 2026-11-27
	./$(BIN) observe --store $(DEMO_STORE) --from $(DEMO_OUT)/flows-1129/flows.log.gz
	./$(BIN) promote --store $(DEMO_STORE) --cluster $(DEMO_CLUSTER) --namespace recruiter-responder --to staged --at 2026-11-29T00:00:00Z --by demo --reason "wave 1: the pilot"
	@$(MAKE) --no-print-directory demo-pr DEMO_STEP=1-stage
	@echo "== 3. four more days while staged (to 12-03): the staged policy reports would-deny flows"
	./$(BIN) generate --out $(DEMO_OUT)/flows-1203 --days 20 --since 2026-11-29
	./$(BIN) observe --store $(DEMO_STORE) --from $(DEMO_OUT)/flows-1203/flows.log.gz
	./$(BIN) waves --store $(DEMO_STORE) --cluster $(DEMO_APPLIED)
	./$(BIN) explain --store $(DEMO_STORE) --namespace recruiter-responder
	@echo "== reviewed: fold them into the allowlist (the staged period restarts at the data's time)"
	./$(BIN) allow --store $(DEMO_STORE) --namespace recruiter-responder --from-denied --at 2026-12-03T00:00:00Z
	@$(MAKE) --no-print-directory demo-pr DEMO_STEP=2-fold-in DEMO_CLUSTER=$(DEMO_APPLIED)
	@echo "== 4. four quiet days (to 12-07), then enforce: every gate met on its own (not forced)"
	./$(BIN) generate --out $(DEMO_OUT)/flows-1207 --days 24 --since 2026-12-03
	./$(BIN) observe --store $(DEMO_STORE) --from $(DEMO_OUT)/flows-1207/flows.log.gz
	./$(BIN) promote --store $(DEMO_STORE) --cluster $(DEMO_APPLIED) --namespace recruiter-responder --to enforced --at 2026-12-07T00:00:00Z --by demo
	@$(MAKE) --no-print-directory demo-pr DEMO_STEP=3-enforce DEMO_CLUSTER=$(DEMO_APPLIED)
	./$(BIN) waves --store $(DEMO_STORE) --cluster $(DEMO_APPLIED)
	@echo "== 5. the same desired state as Terraform (one module, _providers.tf included)"
	./$(BIN) render --store $(DEMO_STORE) --rollout --cluster $(DEMO_APPLIED) -o hcl --out $(DEMO_OUT)/terraform
	@echo
	@echo "Calico OSS: Goldmane flows carry no addresses; the observe policy's LOG lines do."
	./$(BIN) generate --out $(DEMO_OUT)/oss-data --format goldmane --packet-log=false
	./$(BIN) observe --store $(DEMO_OUT)/oss/allowlists --from $(DEMO_OUT)/oss-data/goldmane-flows.json.gz --from testdata/demo/kern.log.gz --pods testdata/demo/pods.json --namespace-file testdata/demo/namespaces.yaml
	./$(BIN) explain --store $(DEMO_OUT)/oss/allowlists --namespace recruiter-responder
	./$(BIN) render --store $(DEMO_OUT)/oss/allowlists --all --flavor calico-staged --out $(DEMO_OUT)/oss/policies/staged
	@echo
	@echo "demo output:"
	@echo "  allowlists (commit these):                 $(DEMO_STORE)/"
	@echo "  the applied desired state (render --rollout): $(DEMO_ROLLOUT)/"
	@echo "  the snapshot after it is applied (predicted): $(DEMO_APPLIED)"
	@echo "  each step's pull-request comment:          $(DEMO_OUT)/pr-*-diff.md, $(DEMO_OUT)/pr-*-check.md"
	@echo "  the same as Terraform:                     $(DEMO_OUT)/terraform/"
	@echo "  Calico OSS staged policies with packet-log addresses: $(DEMO_OUT)/oss/policies/staged/"

# One step's pull request in the demo: diff the store against the applied
# rollout (exit 2: changes, 0: none), render the new desired state, check it applied
# on the cluster's existing policies with the store's evidence, and apply it
# (DEMO_ROLLOUT becomes what the cluster runs). A real cluster would then be
# snapshotted ('kubectl apply -f DIR && sh DIR/_stages.sh', 'calico-plan
# snapshot'); the demo predicts that snapshot from DEMO_CLUSTER and the files
# (DEMO_APPLIED), and the next steps take their facts from it.
demo-pr:
	@echo "-- pull request $(DEMO_STEP): diff against what the cluster runs, check what will be applied"
	./$(BIN) diff --store $(DEMO_STORE) --policies $(DEMO_ROLLOUT) --cluster $(DEMO_CLUSTER) > $(DEMO_OUT)/pr-$(DEMO_STEP)-diff.txt; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ]
	@cat $(DEMO_OUT)/pr-$(DEMO_STEP)-diff.txt
	./$(BIN) diff --store $(DEMO_STORE) --policies $(DEMO_ROLLOUT) --cluster $(DEMO_CLUSTER) -o md > $(DEMO_OUT)/pr-$(DEMO_STEP)-diff.md; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ]
	./$(BIN) render --store $(DEMO_STORE) --rollout --cluster $(DEMO_CLUSTER) --out $(DEMO_ROLLOUT)
	./$(BIN) check --store $(DEMO_STORE) --policies $(DEMO_ROLLOUT) --cluster $(DEMO_CLUSTER) --existing --from-store -o md > $(DEMO_OUT)/pr-$(DEMO_STEP)-check.md
	@head -12 $(DEMO_OUT)/pr-$(DEMO_STEP)-check.md
	@echo "-- applied: the snapshot the cluster then gives (no cluster here: predicted offline from the files)"
	./$(BIN) snapshot --cluster $(DEMO_CLUSTER) --apply $(DEMO_ROLLOUT) --out $(DEMO_APPLIED)

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
