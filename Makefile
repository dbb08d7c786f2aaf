# make demo: train and test the default match model on the built-in shapes data.
# make test: the whole test suite (what CI runs); make test-fast: the tests not marked slow.
# They create .venv and install the project when needed. How long each target takes, measured with
# the date and the machine's load, is in benchmarks/RESULTS.md, not here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/shapes_match.yaml

.PHONY: demo demo-caption demo-translate demo-summarize demo-retrieval demo-vqa test test-fast install clean bench bench-all bench-decoding bench-search bench-vqa

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cmx preprocess $(CONFIG)
	$(BIN)/cmx train $(CONFIG) --overwrite
	$(BIN)/cmx test runs/shapes-match
	$(BIN)/cmx eval runs/shapes-match --split val

# the captioner, then one greedy caption per random test image
demo-caption: $(STAMP)
	$(BIN)/cmx train configs/shapes_caption.yaml --overwrite
	$(BIN)/cmx test runs/shapes-caption
	$(BIN)/cmx sample runs/shapes-caption --strategy greedy --num-samples 1

# English → Chinese translation, then a sentence of your own
demo-translate: $(STAMP)
	$(BIN)/cmx train configs/shapes_translate.yaml --overwrite
	$(BIN)/cmx test runs/shapes-translate
	$(BIN)/cmx sample runs/shapes-translate --text "a small red circle above a large blue square"

# document → summary: ROUGE beside the lead baseline, then a summary
demo-summarize: $(STAMP)
	$(BIN)/cmx train configs/shapes_summarize.yaml --overwrite
	$(BIN)/cmx test runs/shapes-summarize
	$(BIN)/cmx sample runs/shapes-summarize --text "the background is a plain grey. there is a large blue square."

# the dual encoder and cmx search
demo-retrieval: $(STAMP)
	$(BIN)/cmx train configs/shapes_retrieval.yaml --overwrite
	$(BIN)/cmx test runs/shapes-retrieval
	$(BIN)/cmx search runs/shapes-retrieval --query "a small red circle above a large blue square"

# visual question answering, then the top answers to test questions
demo-vqa: $(STAMP)
	$(BIN)/cmx train configs/shapes_vqa.yaml --overwrite
	$(BIN)/cmx test runs/shapes-vqa
	$(BIN)/cmx sample runs/shapes-vqa --top-k 3

# one pytest-xdist worker per core; each test module stays on one worker (tests/conftest.py), so its trained
# fixtures are built once
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

# the fast tier for the edit-test loop (kept under 2 minutes on 2 CPU cores): skips the tests marked slow
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n auto --dist loadgroup

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_spine.py

# every scale figure in one run → benchmarks/RESULTS.md
bench-all: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-decoding: $(STAMP)
	$(BIN)/python benchmarks/bench_decoding.py

bench-search: $(STAMP)
	$(BIN)/python benchmarks/bench_search.py

# vqa on shapes and on DAQUAR, each beside its question-only model
bench-vqa: $(STAMP)
	$(BIN)/python benchmarks/bench_vqa.py configs/shapes_vqa.yaml
	$(BIN)/python benchmarks/bench_vqa.py configs/vqa_daquar.yaml

clean:
	rm -rf runs data/raw data/processed .pytest_cache
