# Two commands on a fresh machine: `make run` (dashboard) and `make test` (the suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export INFOGAN_DATA ?= $(abspath ../shared/data)

.PHONY: run test lint bench clean
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"  # the package, editable, with its deps
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run dashboard.py --server.address localhost

# Two pytest workers with one OpenMP thread each (tests/conftest.py gives the Ray, Streamlit and
# browser tests one worker, the other files the other): the CPUs idle a third of a serial run,
# and two workers of two threads each on two cores ran no faster than one (docs/results.md).
test: $(VENV)/.installed
	$(PY) -m ruff check .
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --durations=15

lint: $(VENV)/.installed
	$(PY) -m ruff check .

bench: $(VENV)/.installed
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
