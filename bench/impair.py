"""Benchmark: how long `synthconv impair` takes on a finished run.

Copies RUN (so the run itself is untouched), impairs the copy with each chain, and prints wall
time, seconds per conversation and how many times faster than real time that is.
    .venv/bin/python bench/impair.py RUN --concurrency 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAINS = [["phone"], ["noise:snr=15"], ["loss:0.03"], ["phone", "noise:snr=15", "loss:0.03"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[2])
    args = ap.parse_args()
    rows = [json.loads(line) for line in (args.run / "conversations.jsonl").read_text().splitlines() if line]
    ok = [r for r in rows if r["status"] == "ok"]
    audio = sum(r["duration_s"] for r in ok)
    print(f"synthconv impair on {args.run}: {len(ok)} conversations, {audio:.0f} s of audio")
    print(f"{'chain':38} {'-j':>3} {'wall s':>7} {'s/conv':>7} {'x real time':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(args.run, copy)
        for chain in CHAINS:
            for j in args.concurrency:
                cmd = [sys.executable, "-m", "synthconv.cli", "impair", str(copy), "-j", str(j),
                       *[a for spec in chain for a in ("--impair", spec)]]
                t0 = time.monotonic()
                subprocess.run(cmd, check=True, capture_output=True)
                wall = time.monotonic() - t0
                print(f"{' + '.join(chain):38} {j:>3} {wall:7.1f} {wall / len(ok):7.2f} {audio / wall:11.1f}")


if __name__ == "__main__":
    main()
