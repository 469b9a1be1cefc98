"""Benchmark: how fast `synthconv generate` makes audio, and how much memory it takes.

Prints wall time, total audio seconds, their ratio (times real time) and peak memory (the
largest summed RSS of the CLI and all its worker processes, sampled every 0.1 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[2, 4])
    args = ap.parse_args()
    print(f"synthconv generate --count {args.count} (offline engine, local transport)")
    print(f"{'concurrency':>11} {'wall s':>8} {'audio s':>8} {'x real time':>11} {'peak MB':>8} {'ok':>5}")
    for c in args.concurrency:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            cmd = [sys.executable, "-m", "synthconv.cli", "generate", "--count", str(args.count),
                   "--seed", str(args.seed), "--concurrency", str(c), "--out", str(out)]
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ps, peak = psutil.Process(proc.pid), 0
            while proc.poll() is None:
                peak = max(peak, tree_rss(ps))
                time.sleep(0.1)
            wall = time.monotonic() - t0
            rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
            audio = sum(r["duration_s"] or 0 for r in rows)
            ok = sum(r["status"] == "ok" for r in rows)
            print(f"{c:>11} {wall:>8.1f} {audio:>8.1f} {audio / wall:>11.1f} {peak / 2**20:>8.0f} "
                  f"{ok:>2}/{len(rows)}")


if __name__ == "__main__":
    main()
