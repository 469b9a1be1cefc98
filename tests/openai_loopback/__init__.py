"""A loopback OpenAI-compatible server for tests: chat completions, speech, transcriptions and
the Realtime WebSocket, producing real audio (espeak-ng) and playing the scenario with the
project's scripted dialogue policy. Nothing leaves 127.0.0.1.

    server = LoopbackThread().start()      # server.base_url == "http://127.0.0.1:<port>/v1"
    ...
    server.stop()

Run it on its own (e.g. to try the OpenAI engines without a key):

    cd tests && ../.venv/bin/python -m openai_loopback --port 8765

Tested against livekit-plugins-openai 1.8.9 / livekit-agents 1.8.9 and openai 3.54: a plugin
upgrade can change the events it sends or parses; re-run tests/engine/openai/test_openai_engines.py after one.
"""

from .server import LoopbackThread, OpenAILoopback

__all__ = ["LoopbackThread", "OpenAILoopback"]
