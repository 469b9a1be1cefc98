"""Benchmark: how fast `synthconv generate` makes audio, how much memory it takes, and how well
the agents hear each other.

Prints, per hearing mode (whisper, transcript) and concurrency: wall time, total audio seconds,
their ratio (times real time), peak memory (the largest summed RSS of the CLI and all its worker
processes, sampled every 0.1 s), the mean per-turn word error rate of `heard` against `text`, and
the share of conversations with a clarification exchange (an agent asking again about a number,
repair.py); then the distribution of the conversations' mean WER.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from synthconv.engine.offline.repair import CLARIFICATION, MAX_REPAIRS


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def hearing_figures(out: Path, rows: list[dict]) -> dict:
    """Per-turn WER, per-conversation mean WER, clarification exchanges (and the most repair turns
    one role made in one call: MAX_REPAIRS at most, or it looped)."""
    turn_wer, conv_wer, clarified, most = [], [], 0, 0
    for r in rows:
        if r["status"] != "ok":
            continue
        folder = out / "conversations" / r["id"]
        turns = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
        turn_wer += [t["wer"] for t in turns if t.get("wer") is not None]
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("wer") is not None:
            conv_wer.append(meta["wer"])
        repairs = [t for t in turns if CLARIFICATION.match(t["text"])]
        clarified += bool(repairs)
        most = max([most] + [sum(t["role"] == role for t in repairs) for role in r["roles"]])
    return {"turn_wer": turn_wer, "conv_wer": conv_wer, "clarified": clarified, "most_repairs": most}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[2])
    ap.add_argument("--hearing", nargs="+", default=["whisper", "transcript"])
    args = ap.parse_args()
    print(f"synthconv generate --count {args.count} --seed {args.seed} (offline engine, local transport)")
    print(f"{'hearing':>10} {'concurrency':>11} {'wall s':>8} {'audio s':>8} {'x real time':>11} {'peak MB':>8} "
          f"{'ok':>5} {'turn WER':>8} {'clarified':>9} {'max repairs/role':>16}")
    spreads = {}
    for hearing in args.hearing:
        for c in args.concurrency:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "run"
                cmd = [sys.executable, "-m", "synthconv.cli", "generate", "--count", str(args.count),
                       "--seed", str(args.seed), "--concurrency", str(c), "--hearing", hearing, "--out", str(out)]
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
                h = hearing_figures(out, rows)
            spreads[hearing] = h["conv_wer"]
            turn_wer = f"{np.mean(h['turn_wer']):.1%}" if h["turn_wer"] else "n/a"
            print(f"{hearing:>10} {c:>11} {wall:>8.1f} {audio:>8.1f} {audio / wall:>11.1f} {peak / 2**20:>8.0f} "
                  f"{ok:>2}/{len(rows)} {turn_wer:>8} {h['clarified'] / max(ok, 1):>9.0%} "
                  f"{h['most_repairs']:>10} (<= {MAX_REPAIRS})", flush=True)
    for hearing, values in spreads.items():
        if values:
            q = np.quantile(values, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
            print(f"{hearing}: mean WER per conversation, n={len(values)}: "
                  + ", ".join(f"{name} {v:.1%}" for name, v in zip(("min", "p10", "p25", "median", "p75", "p90", "max"), q)))


if __name__ == "__main__":
    main()
