# Two commands on a fresh machine: `make run` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real LiveKit server for the room tests and bench, built once per version into tools/
# (git-ignored). v1.13.5 is the newest release that builds from the Go module proxy: see
# scripts/build-livekit-server.
LIVEKIT_SERVER_VERSION := v1.13.5
LIVEKIT_SERVER := tools/livekit-server-$(LIVEKIT_SERVER_VERSION)

.PHONY: run test test-livekit bench bench-livekit install livekit-server clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(LIVEKIT_SERVER):
	scripts/build-livekit-server $(LIVEKIT_SERVER_VERSION) $@

livekit-server: $(LIVEKIT_SERVER)

run: $(STAMP)
	$(BIN)/synthconv generate --count 4 --seed 1

# A server that fails to build does not stop the suite: the LiveKit tests fail with the reason.
test: $(STAMP)
	-$(MAKE) --no-print-directory livekit-server
	$(BIN)/python -m pytest -q

test-livekit: $(STAMP)
	-$(MAKE) --no-print-directory livekit-server
	$(BIN)/python -m pytest -q -m livekit

bench: $(STAMP)
	$(BIN)/python bench/generate.py --count 20 --hearing whisper transcript

bench-livekit: $(STAMP) $(LIVEKIT_SERVER)
	$(BIN)/python bench/livekit_rooms.py --rooms 1 2 4 8

clean:
	rm -rf $(VENV) output tools
