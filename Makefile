# Two commands on a fresh machine: `make demo` and `make test`.
# Both create (or reuse) .venv and install the project with every extra, torch included.
# torch is pinned to 2.13.0 (the CPU build): resolving everything in one pip call also lets pip
# pick a huggingface-hub that agrees with faust-streaming's click pin.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hitpred-installed

.PHONY: install demo test test-unit test-integration lint bench bench-scaling clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# A venv made before the switch to xgboost-cpu holds the CUDA `xgboost` distribution:
	@# remove it first (both own the same files; removing it afterwards would break the other).
	@$(PY) -m pip uninstall --quiet --yes xgboost nvidia-nccl-cu12 2>/dev/null || true
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hitpred demo

test: $(STAMP)
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff check hitpred streams training tests bench
	$(VENV)/bin/mypy hitpred streams training

bench: $(STAMP)
	$(PY) -m bench --events 50000 --workers 1,2 --rounds 3

# How throughput scales with workers: each worker (and the plain loop) on a core of its own.
bench-scaling: $(STAMP)
	$(PY) -m bench --events 50000 --workers 1,2 --rounds 3 --cores-per-worker 1 --latency-rate 0

clean:
	rm -rf $(VENV) var reports .pytest_cache
