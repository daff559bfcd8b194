# The two commands of the README: `make desk` runs desk on the simulator, `make test` runs the tests.
# Both create the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The optional compiled book (setup.py, src/desk/market/native.py): rebuilt in place when the C or
# a pure module it mirrors changes (a stale build is refused at import and desk runs the Python).
NATIVE_SOURCES := setup.py $(addprefix src/desk/market/,_book_native.c book.py book_side.py checksum.py)
NATIVE := $(VENV)/.native

.PHONY: desk test lint bench clean system-deps

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python setup.py -q build_ext --inplace
	touch $(NATIVE)

desk: $(NATIVE)
	$(BIN)/desk --sim

# The tests start private redis-server instances and drive the real desk in tmux: install both
# when absent (as root, through apt-get); otherwise the suite fails naming the install command.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v tmux >/dev/null || missing="$$missing tmux"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "missing$$missing: sudo apt-get install$$missing"; \
		fi; \
	fi

test: $(NATIVE) system-deps
	$(BIN)/ruff check src tests bench themes
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench themes
	$(BIN)/ruff format --check src tests bench themes

bench: $(NATIVE)
	$(BIN)/python bench/feed_throughput.py

clean:
	rm -rf $(VENV)
