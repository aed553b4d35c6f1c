# One command each: `make demo` (set up + colorize a real black-and-white photo),
# `make test` (set up + run the test suite), `make bench` (throughput benchmarks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/hypercol: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'setuptools<81' wheel
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/hypercol

demo: setup
	$(BIN)/python examples/demo.py

test: setup
	$(BIN)/python -m pytest tests -q

# Throughput benchmarks (against yardsticks and peers), < 15 min on 2 cores: benchmarks/results.md + results.json.
bench: setup
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results.json -q; \
	status=$$?; $(BIN)/python benchmarks/report.py benchmarks/results.json benchmarks/results.md; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info
