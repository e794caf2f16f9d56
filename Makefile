# README's two commands: `make bench` (the main job) and `make test` (the tests).
# Each sets up .venv from the project's own files on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stde-bench-installed
# asv records no GPU field: the machine's name carries the hardware.  MACHINE=<name>,
# else $$STDE_BENCH_MACHINE, else the name from the hardware (`stde-bench machine --name`),
# the same default as the CLI's and the benchmarks'.
MACHINE ?=
M = $(or $(MACHINE),$$($(VENV)/bin/stde-bench machine --name))
PROFILE ?= smoke
# Where a sweep's cells run (`stde-bench sweep --executor`: local, gpus, slurm) and the
# executor's YAML parameters (docs/gpu.md#clusters-and-multi-gpu-nodes).
EXECUTOR ?= local
EXECUTOR_CONFIG ?=
RUN_ON = --executor $(EXECUTOR) $(if $(EXECUTOR_CONFIG),--executor-config $(EXECUTOR_CONFIG))

.PHONY: install test test-fast lint bench report plan sweep repro asv-quick clean

# Exactly the versions of constraints.txt (tests/test_pins.py checks them; docs/pins.md).
$(STAMP): pyproject.toml Makefile constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch  # the pinned CPU build here
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,torch]"
	touch $(STAMP)

install: $(STAMP)

# Every test CI runs (slow ones too: real asv runs, subprocess sweeps, the plugin's pip
# install, the browser, every case of every parametrized test), then ruff.
# `make test-fast`: the tests not marked slow (one case per parametrized test of the
# estimators, problems and training: the fast_first marker), in TEST_WORKERS processes.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The main job: the asv suite of the chosen profile on this machine, then the report.
bench: $(STAMP)
	m=$(M) && $(VENV)/bin/asv machine --yes --machine $$m >/dev/null && \
	STDE_BENCH_PROFILE=$(PROFILE) STDE_BENCH_MACHINE=$$m $(VENV)/bin/asv run -E existing:$(PY) \
		--set-commit-hash $$(git rev-parse HEAD) --machine $$m --show-stderr && \
	$(VENV)/bin/stde-bench report --machine $$m

report: $(STAMP)
	$(VENV)/bin/stde-bench report --machine $(M)

# The plan of a profile: every cell, what it measures, the ETA on this machine.
plan: $(STAMP)
	$(VENV)/bin/stde-bench sweep --profile $(PROFILE) --machine $(M) $(RUN_ON) --dry-run

# A profile's cells outside asv (resumable), e.g. `make sweep PROFILE=gpu-quick EXECUTOR=gpus`.
sweep: $(STAMP)
	$(VENV)/bin/stde-bench sweep --profile $(PROFILE) --machine $(M) $(RUN_ON)

# The CPU reproduction: repro-cpu's cells (resumable: run it again to go on), then the
# report, in pieces; `make plan PROFILE=repro-cpu` says how long.
repro: $(STAMP)
	$(VENV)/bin/stde-bench sweep --profile repro-cpu --machine $(M) $(RUN_ON)
	$(VENV)/bin/stde-bench report --machine $(M)

# CI's asv smoke: `asv check`, then a small subset once each; asv exits 2 on any failure.
asv-quick: $(STAMP)
	$(VENV)/bin/asv machine --yes --machine ci >/dev/null
	$(VENV)/bin/asv check -E existing:$(PY)
	STDE_BENCH_PROFILE=smoke STDE_BENCH_MACHINE=ci $(VENV)/bin/asv run -E existing:$(PY) --quick \
		--set-commit-hash $$(git rev-parse HEAD) --machine ci --show-stderr \
		--bench 'InseparableJ16'

clean:
	rm -rf $(VENV) .asv .pytest_cache .ruff_cache
