# Two commands on a fresh machine: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-livekit bench bench-livekit install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/synthconv generate --count 4 --seed 1

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-livekit: $(STAMP)
	$(BIN)/python -m pytest -q -m 'livekit or openai_room'

bench: $(STAMP)
	$(BIN)/python bench/generate.py --count 20

bench-livekit: $(STAMP)
	$(BIN)/python bench/livekit_rooms.py --concurrency 1 2 3 4

clean:
	rm -rf $(VENV) output
