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
# The lhotse `make test-lhotse` loads exports with: in a venv of its own (it pulls torch, several
# GB from PyPI; urllib3 is imported by lhotse but not declared). Not a dependency of synthconv.
LHOTSE_VERSION := 1.33.0
LHOTSE_VENV := .venv-lhotse

.PHONY: run test test-livekit test-cluster test-lhotse bench bench-turns bench-voices bench-livekit install livekit-server web chromium redis bench-cluster serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(LIVEKIT_SERVER):
	scripts/build-livekit-server $(LIVEKIT_SERVER_VERSION) $@

livekit-server: $(LIVEKIT_SERVER)

# The pages of `synthconv serve`, built from web/ into the package (skipped when web/ is unchanged).
web: $(STAMP)
	PYTHON=$(BIN)/python scripts/build-web

# Debian's Chromium for the browser tests (skipped when /usr/bin/chromium is there).
chromium:
	scripts/install-chromium

# Debian's redis-server for the cluster test (skipped when /usr/bin/redis-server is there).
redis:
	scripts/install-redis

run: $(STAMP)
	$(BIN)/synthconv generate --count 4 --seed 1

serve: $(STAMP) web
	$(BIN)/synthconv serve --runs output

# A server that fails to build does not stop the suite: the LiveKit tests fail with the reason.
test: $(STAMP) web
	-$(MAKE) --no-print-directory livekit-server
	-$(MAKE) --no-print-directory chromium
	$(BIN)/ruff check synthconv tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15  # rooms on one worker: tests/conftest.py

test-livekit: $(STAMP)
	-$(MAKE) --no-print-directory livekit-server
	$(BIN)/python -m pytest -q -m livekit

# A LiveKit cluster in network namespaces (Redis, two server nodes, two worker hosts, failures):
# about 8 minutes on 2 cores, so not in `make test`; .ci/run runs it after.
test-cluster: $(STAMP)
	-$(MAKE) --no-print-directory livekit-server
	-$(MAKE) --no-print-directory redis
	$(BIN)/python -m pytest -q -s -m cluster tests/cluster

$(LHOTSE_VENV)/.installed-$(LHOTSE_VERSION):
	$(PYTHON) -m venv $(LHOTSE_VENV)
	$(LHOTSE_VENV)/bin/pip install --quiet --upgrade pip
	$(LHOTSE_VENV)/bin/pip install --quiet lhotse==$(LHOTSE_VERSION) urllib3
	touch $@

# Not in `make test` nor CI: a fresh export loaded in real lhotse, and the golden manifests
# `make test` compares against written again by it.
test-lhotse: $(STAMP) $(LHOTSE_VENV)/.installed-$(LHOTSE_VERSION)
	scripts/test-lhotse $(LHOTSE_VENV)/bin/python

bench: $(STAMP)
	$(BIN)/python bench/generate.py --count 20 --hearing whisper transcript

bench-voices: $(STAMP)
	$(BIN)/python bench/voices.py --count 20 --concurrency 2

bench-turns: $(STAMP)
	$(BIN)/python bench/turn_taking.py --count 50

bench-livekit: $(STAMP) $(LIVEKIT_SERVER)
	$(BIN)/python bench/livekit_rooms.py --rooms 1 2 4 8

bench-cluster: $(STAMP) $(LIVEKIT_SERVER)
	-$(MAKE) --no-print-directory redis
	$(BIN)/python bench/cluster_orchestrator.py --rooms 4 --waves 2

clean:
	rm -rf $(VENV) $(LHOTSE_VENV) output tools web/node_modules synthconv/serve/static test-artifacts
