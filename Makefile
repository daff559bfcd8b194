# The two commands of the README: `make desk` runs desk on the simulator, `make test` runs the tests.
# Both create the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: desk test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

desk: $(STAMP)
	$(BIN)/desk --sim

test: $(STAMP)
	$(BIN)/ruff check src tests bench themes
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench themes
	$(BIN)/ruff format --check src tests bench themes

bench: $(STAMP)
	$(BIN)/python bench/feed_throughput.py

clean:
	rm -rf $(VENV)
