# Everyday commands. `make demo` and `make test` are the README's two set-up commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint format bench bench-generation dashboards rules clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'

# The demo needs only the runtime dependencies (no test tools, no gRPC: see README).
demo: $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	$(BIN)/aga-otel demo $(ARGS)

test: install
	bash scripts/install-system-deps.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check aga_otel aga_observability tests benchmarks
	$(BIN)/ruff format --check aga_otel aga_observability tests benchmarks

format: install
	$(BIN)/ruff format aga_otel aga_observability tests benchmarks
	$(BIN)/ruff check --fix aga_otel aga_observability tests benchmarks

bench: install
	$(BIN)/python benchmarks/hot_path.py

bench-generation: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/generation.py

dashboards: install
	$(BIN)/aga-otel dashboards --write dashboards
	$(BIN)/python deploy/kubernetes/generate.py --write # grafana-dashboards.yaml

rules: install
	$(BIN)/python -m aga_otel.alerts.promrules --write
	$(BIN)/python -m aga_otel.legacy_rules --write
	$(BIN)/python deploy/kubernetes/generate.py --write

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache

.PHONY: bench-rare
bench-rare: install
	$(BIN)/python benchmarks/rare_events.py
