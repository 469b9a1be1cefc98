"""Benchmark: resume a run killed (SIGKILL) halfway, and validate a finished one.

Prints the time `generate --resume` takes to finish a --count N run killed once half its
conversations were complete, and the time of `inspect --validate` on the finished run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synthconv.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kw)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.monotonic()
        proc = cli("generate", "--count", str(args.count), "--seed", "5", "--concurrency",
                   str(args.concurrency), "--out", str(out), start_new_session=True)
        while len(list((out / "conversations").glob("[!.]*/meta.json"))) < args.count // 2:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        first = time.monotonic() - t0
        kept = len(list((out / "conversations").glob("[!.]*/meta.json")))
        t0 = time.monotonic()
        code = cli("generate", "--resume", str(out), "--concurrency", str(args.concurrency)).wait()
        resume = time.monotonic() - t0
        t0 = time.monotonic()
        vcode = cli("inspect", str(out), "--validate").wait()
        validate = time.monotonic() - t0
    print(f"--count {args.count}, --concurrency {args.concurrency}")
    print(f"killed after {first:.1f} s with {kept} complete; resume finished the rest in {resume:.1f} s (exit {code})")
    print(f"inspect --validate on {args.count} conversations: {validate:.1f} s (exit {vcode})")


if __name__ == "__main__":
    main()
