# Switchboard — the two commands that matter: `make demo` and `make test`.
# Needs only python3 (>= 3.11) and make: uv is installed with pip when it is missing.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
# The integration tests wait on real time (calls spoken at the pace of speech), not on the CPU:
# two workers, each taking whole test files, halve the wall time (1721 s -> 927 s measured).
# PYTEST_PARALLEL= (empty) runs them one at a time.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

CHROMIUM_INSTALL := command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	|| { $(shell [ "$$(id -u)" = 0 ] || echo sudo) apt-get update -qq && $(shell [ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y -qq chromium; } \
	|| echo "chromium could not be installed: the console's browser test will be skipped"

.PHONY: help install install-chromium lint typecheck unit integration test demo bench eval chaos up docs clean

help:
	@echo "make demo   - one simulated phone call through every service (no API keys)"
	@echo "make test   - lint, types, unit and integration tests (what CI runs)"
	@echo "make bench  - benchmark figures (latency percentiles, CPU and memory per call)"
	@echo "make eval   - knowledge retrieval quality per upload format (dev and test splits)"
	@echo "make chaos  - kill, hang and cut each process with calls in flight; what callers went through"
	@echo "make up     - the stack in the foreground for real Twilio/OpenAI use"
	@echo "make docs   - regenerate docs/asyncapi.yaml and docs/openapi/*.json from the code"

.venv/.installed: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml simulators/pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen --all-packages
	@# The knowledge service's model re-quantized for int8 arithmetic, once per machine (~3 s).
	$(RUN) python -m switchboard_knowledge.prepare_model
	@touch $@

install: .venv/.installed

# Debian's chromium for the console's browser test (Playwright drives it; no browser download).
install-chromium:
	@$(CHROMIUM_INSTALL)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install
	$(RUN) mypy libs/common/src services/media-gateway/src services/agent/src services/knowledge/src simulators/src bench

unit: install
	$(RUN) pytest tests/unit -q

integration: install install-chromium
	$(RUN) pytest tests/integration -q $(PYTEST_PARALLEL)

test: install install-chromium
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/common/src services/media-gateway/src services/agent/src services/knowledge/src simulators/src bench
	$(RUN) pytest tests -q $(PYTEST_PARALLEL) --durations=15

demo: install
	$(RUN) python -m switchboard_sim.demo

bench: install
	$(RUN) python -m bench

eval: install
	$(RUN) python -m bench.knowledge_eval
	$(RUN) python -m bench.knowledge_eval_public

chaos: install
	$(RUN) python -m bench.chaos

up: install
	$(RUN) python -m switchboard_sim.up

# Generated API documents, checked in; tests fail when they are stale.
docs: install
	$(RUN) python -m switchboard_common.asyncapi --out docs/asyncapi.yaml
	$(RUN) python -m switchboard_gateway.openapi --out docs/openapi/gateway.json
	$(RUN) python -m switchboard_knowledge.openapi --out docs/openapi/knowledge.json
	$(RUN) python -m switchboard_common.nats_auth --out deploy/k8s/helm/nats-auth-values.yaml
	$(RUN) python -m switchboard_common.nats_auth --compose --out deploy/nats/auth.conf

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache demo-output test-output chaos-output
