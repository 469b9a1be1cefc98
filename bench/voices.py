"""Benchmark: espeak-ng against Piper on the same plan (issue 26).

Runs `synthconv generate` on one plan (default 20 conversations, seed 1, Whisper hearing) twice,
`--tts espeak` and `--tts auto` (every drawn English speaker in the shipped Piper voice, Hindi in
espeak-ng either way), and prints for each: wall time, audio seconds, times real time, the mean
per-turn WER of the agents' hearing (English turns: Hindi hears the transcript), the peak RSS of
one runner process and of the whole tree, the CPU seconds all its processes used (audio seconds
per CPU second, times the cores, is what the machine could make with nothing else running), and
the load average seen while it ran (the machine may be shared: a figure measured under load
says so). Goals: Piper >= 5x real time at concurrency 2 on 2 cores, turn WER <= 10 %.

    bench/voices.py [--count 20] [--seed 1] [--concurrency 2] [--tts espeak auto] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import hearing_figures  # noqa: E402 - the bench scripts share their measures


def measure(out: Path, count: int, seed: int, concurrency: int, tts: str, hearing: str) -> dict:
    """One run, sampled every 0.2 s: RSS per process (the peak of each runner) and the load."""
    cmd = [sys.executable, "-m", "synthconv.cli", "generate", "--count", str(count), "--seed", str(seed),
           "--concurrency", str(concurrency), "--hearing", hearing, "--tts", tts, "--out", str(out)]
    t0, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    top = psutil.Process(proc.pid)
    peak: dict[int, int] = {}
    tree, loads = 0, []
    while proc.poll() is None:
        total = 0
        for p in [top, *top.children(recursive=True)]:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            peak[p.pid] = max(peak.get(p.pid, 0), rss)
            total += rss
        tree = max(tree, total)
        loads.append(os.getloadavg()[0])
        time.sleep(0.2)
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the CLI and every runner, all reaped
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"generate failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    h = hearing_figures(out, rows)
    runners = [v for pid, v in peak.items() if pid != proc.pid]
    engines: dict[str, int] = {}
    for r in rows:
        if r["status"] == "ok":
            meta = json.loads((out / "conversations" / r["id"] / "meta.json").read_text())
            for v in meta["voices"].values():
                engines[v["engine"]] = engines.get(v["engine"], 0) + 1
    return {"tts": tts, "wall": wall, "cpu": cpu, "audio": sum(r["duration_s"] or 0 for r in rows),
            "ok": sum(r["status"] == "ok" for r in rows), "n": len(rows),
            "turn_wer": float(np.mean(h["turn_wer"])) if h["turn_wer"] else None,
            "runner_mb": max(runners, default=0) / 2**20, "tree_mb": tree / 2**20,
            "load": (min(loads, default=0), float(np.mean(loads)) if loads else 0, max(loads, default=0)),
            "engines": engines}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--hearing", default="whisper")
    ap.add_argument("--tts", nargs="+", default=["espeak", "auto"])
    ap.add_argument("--keep", type=Path, help="Keep the runs in this folder (for listening).")
    args = ap.parse_args()
    print(f"synthconv generate --count {args.count} --seed {args.seed} --concurrency {args.concurrency} "
          f"--hearing {args.hearing} --tts ... on {os.cpu_count()} cores")
    print(f"{'tts':>7} {'voices (role tracks)':>24} {'wall s':>7} {'audio s':>8} {'x real time':>11} {'ok':>6} "
          f"{'turn WER':>8} {'runner MB':>9} {'tree MB':>8} {'CPU s':>7} {'x rt if idle':>12}  load min/mean/max")
    for tts in args.tts:
        with tempfile.TemporaryDirectory() as tmp:
            out = (args.keep or Path(tmp)) / f"run-{tts}"
            r = measure(out, args.count, args.seed, args.concurrency, tts, args.hearing)
        voices = ", ".join(f"{k} {v}" for k, v in sorted(r["engines"].items()))
        wer = f"{r['turn_wer']:.1%}" if r["turn_wer"] is not None else "n/a"
        print(f"{tts:>7} {voices:>24} {r['wall']:>7.1f} {r['audio']:>8.1f} {r['audio'] / r['wall']:>11.1f} "
              f"{r['ok']:>3}/{r['n']:<2} {wer:>8} {r['runner_mb']:>9.0f} {r['tree_mb']:>8.0f} {r['cpu']:>7.0f} "
              f"{r['audio'] / r['cpu'] * min(args.concurrency, os.cpu_count() or 1):>12.1f}  "
              f"{r['load'][0]:.1f}/{r['load'][1]:.1f}/{r['load'][2]:.1f}", flush=True)


if __name__ == "__main__":
    main()
