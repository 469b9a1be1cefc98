"""python -m openai_loopback [--port 8765]: serve until Ctrl-C."""

import argparse
import time

from .server import LoopbackThread

parser = argparse.ArgumentParser(prog="openai_loopback")
parser.add_argument("--port", type=int, default=8765)
args = parser.parse_args()
server = LoopbackThread(port=args.port).start()
print(f"OpenAI loopback on {server.base_url} (OPENAI_BASE_URL={server.base_url}); Ctrl-C to stop", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    server.stop()
