# Everyday commands. `make demo` and `make test` are the README's two set-up commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Installs again only when pyproject.toml changed since the last one (the stamp is newer).
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: help demo test install lint format bench bench-generation dashboards rules clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install aga-otel[dev] (again only after pyproject.toml changed)

# The demo needs only the runtime dependencies (no test tools, no gRPC: see README).
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

demo: $(RUNTIME_STAMP) ## run `aga-otel demo` (ARGS="--duration 30 --host 0.0.0.0 ...")
	$(BIN)/aga-otel demo $(ARGS)

test: install ## install the Debian test packages and run the tests (PYTEST_ARGS=...)
	bash scripts/install-system-deps.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install ## ruff check and format --check
	$(BIN)/ruff check aga_otel aga_observability tests benchmarks
	$(BIN)/ruff format --check aga_otel aga_observability tests benchmarks

format: install ## ruff format and fix
	$(BIN)/ruff format aga_otel aga_observability tests benchmarks
	$(BIN)/ruff check --fix aga_otel aga_observability tests benchmarks

bench: install ## hot-path benchmark
	$(BIN)/python benchmarks/hot_path.py

bench-generation: install ## benchmark with a real generating model (installs torch)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/generation.py

dashboards: install ## regenerate the committed Grafana dashboards
	$(BIN)/aga-otel dashboards --write dashboards
	$(BIN)/python deploy/kubernetes/generate.py --write # grafana-dashboards.yaml

rules: install ## regenerate the committed Prometheus rules and manifests
	$(BIN)/python -m aga_otel.alerts.promrules --write
	$(BIN)/python -m aga_otel.legacy_rules --write
	$(BIN)/python deploy/kubernetes/generate.py --write

clean: ## remove .venv and build files
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

.PHONY: bench-rare
bench-rare: install ## rare-event benchmark
	$(BIN)/python benchmarks/rare_events.py
