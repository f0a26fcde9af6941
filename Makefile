# meshtool's commands. `make demo` runs the local end-to-end demo; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit integration check lint lock lock-check flag-docs k8s-binaries bench \
	bench-services clean node-binaries node-images cluster cluster-down node-test helm promtool \
	monitoring fuzz soak

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	@$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $(STAMP)

## The main job: a local control plane, the controller, the examples, end to end.
demo: $(STAMP)
	@./hack/k8s-binaries.sh 1.37
	@$(BIN)/meshtool demo $(DEMO_ARGS)

## The whole test suite (unit + integration on MESHTOOL_K8S_VERSIONS, default 1.37 and 1.35).
test: $(STAMP)
	@./hack/ensure-k8s-binaries.sh
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	  exit $$rc

unit: $(STAMP)
	@$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	@./hack/ensure-k8s-binaries.sh
	@$(BIN)/pytest tests/integration $(PYTEST_ARGS)

## The full fuzz run: 100,000 generated and mutated inputs per target (PCR reader of every
## version, CSR and SPKI keys, CA pool JSON, PEM, informer views, the demo server's TLS and
## HTTP fronts). `make test` runs a smoke share of the same targets.
FUZZ_COUNT ?= 100000
fuzz: $(STAMP)
	@start=$$(date +%s); MESHTOOL_FUZZ_COUNT=$(FUZZ_COUNT) $(BIN)/pytest -m fuzz tests/unit \
	  -q -p no:cacheprovider -o timeout=0 $(PYTEST_ARGS); rc=$$?; \
	  echo "make fuzz: $$(( $$(date +%s) - start )) s wall"; exit $$rc

## A long soak (not in CI): 30 min of steady issuance with periodic faults, reporting memory,
## descriptors and asyncio tasks per controller process; SOAK_ARGS="--minutes 3" for a short one.
soak: $(STAMP)
	@./hack/k8s-binaries.sh 1.37
	@$(BIN)/python bench/soak.py $(SOAK_ARGS) < /dev/null

## Format check, lint, strict typing, layer contracts.
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## Rewrite formatting and apply safe lint fixes.
lint: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The image's pinned packages (requirements.lock, requirements-build.lock) from pyproject.toml.
lock: $(STAMP)
	@./hack/lock.sh

## Fail when the lock files are not current with pyproject.toml (CI runs this).
lock-check: $(STAMP)
	@./hack/lock.sh --check

## Rewrite the README's "Controller flags" table from the code (a unit test checks it).
flag-docs: $(STAMP)
	@$(BIN)/python -m meshtool.cli.flagdoc README.md

## Build (or reuse) kube-apiserver, kubectl and etcd for MESHTOOL_K8S_VERSIONS.
k8s-binaries:
	@./hack/k8s-binaries.sh

## Build (or reuse) helm v3.22.0 for the chart tests (~/.cache/meshtool/helm/).
helm:
	@./hack/helm-binary.sh

## Build (or reuse) promtool, which the monitoring tests run on the alerts.
promtool:
	@./hack/promtool.sh

## The alerts and dashboard as a PrometheusRule and a Grafana ConfigMap, for clusters without
## the Helm chart: `make -s monitoring NAMESPACE=monitoring | kubectl apply -f -`.
monitoring:
	@./hack/monitoring.sh

## Issuance benchmark against a local control plane (prints a table and a `bench:` line).
bench: $(STAMP)
	@./hack/k8s-binaries.sh 1.37
	@$(BIN)/python bench/issuance.py $(BENCH_ARGS)

## A real one-node cluster on this machine (root, no Docker): build what it needs, start it.
## See meshtool/testing/node/ and docs/real-node.md; `make cluster-down` removes everything it created.
node-binaries:
	@./hack/node-binaries.sh

node-images: node-binaries
	@./hack/node-images.sh

cluster: $(STAMP)
	@./hack/k8s-binaries.sh 1.37
	@./hack/node-binaries.sh
	@PYTHON=$(BIN)/python ./hack/node-images.sh
	@$(BIN)/python -m meshtool.testing.node up

cluster-down: $(STAMP)
	@$(BIN)/python -m meshtool.testing.node down

## The real-node suite (not part of `make test`): cluster up, quickstart, real-kubelet tests, down.
node-test: $(STAMP)
	@./hack/k8s-binaries.sh 1.37
	@./hack/node-binaries.sh
	@PYTHON=$(BIN)/python ./hack/node-images.sh
	@MESHTOOL_NODE_TEST=1 $(BIN)/pytest -p no:cacheprovider tests/node $(PYTEST_ARGS)

## service-dns CPU per request with 10 and 5,000 Services in the namespace (in process).
bench-services: $(STAMP)
	@$(BIN)/python bench/services.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
