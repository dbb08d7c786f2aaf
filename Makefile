# make demo: train and test the default match model on the built-in shapes data.
# make test: the test suite. Both create .venv and install the project when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/shapes_match.yaml

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cmx preprocess $(CONFIG)
	$(BIN)/cmx train $(CONFIG) --overwrite
	$(BIN)/cmx test runs/shapes-match
	$(BIN)/cmx eval runs/shapes-match --split val

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_spine.py

clean:
	rm -rf runs data/raw data/processed .pytest_cache
