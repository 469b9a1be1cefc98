"""python -m openai_loopback [--port 8765] [--faults JSON] [--whisper]: serve until Ctrl-C or SIGTERM."""

import argparse
import json
import signal
import time

from .server import LoopbackThread

parser = argparse.ArgumentParser(prog="openai_loopback")
parser.add_argument("--port", type=int, default=8765)
parser.add_argument("--faults", default="", help='server.faults as JSON, e.g. {"chat": [429, 500]}')
parser.add_argument("--whisper", action="store_true", help="transcribe with Whisper tiny.en (speech not made here)")
args = parser.parse_args()
server = LoopbackThread(port=args.port, whisper=args.whisper).start()
if args.faults:
    server.server.faults.update(json.loads(args.faults))


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _stop)
print(f"OpenAI loopback on {server.base_url} (OPENAI_BASE_URL={server.base_url}); Ctrl-C to stop", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    server.stop()
