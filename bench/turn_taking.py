"""Benchmark: how conversations take turns, `--turn-taking natural` against `strict`, same seed.

Generates the same plan in both modes (or reads runs given with --run) and prints, over all
conversations: floor-transfer offsets (percentiles, mode, share in overlap), overlap ratio,
backchannels and interruptions per minute, share of turns interrupted, disfluencies per turn,
the cumulated IPU, pause, gap and overlap seconds per minute next to Fisher's (labels.py), and
speed (times real time). The figures are labels.turn_taking's, recomputed from each
conversation's transcript and tracks (as `inspect` does), not read from meta.json.

The modal offset on 100 ms bins is a noisy figure for the model's broad, flat-topped peak (drawn
from the model itself, 200 offsets put the modal bin in 0.1-0.3 s only 64 % of the time); the
kernel mode (Gaussian, 80 ms) is printed next to it. `--floor-log LOG` (with one --run: a room
run and its worker's log, SYNTHCONV_DEBUG=1) pairs each reply's offset as its agent's floor
planned it with the offset the recording shows: where a room moves the peak.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from synthconv.runfolder import read_transcript, read_wav
from synthconv.runfolder.labels import FISHER_PER_MIN, modal_offset, timing_per_minute, turn_taking


def kernel_mode(offsets: list[float], bandwidth: float = 0.08) -> float:
    grid = np.arange(-1.0, 2.0, 0.005)
    density = np.exp(-0.5 * ((grid[:, None] - np.asarray(offsets)[None, :]) / bandwidth) ** 2).sum(axis=1)
    return round(float(grid[np.argmax(density)]), 2)


PLANNED = re.compile(r"synthconv\.floor DEBUG (\S+): reply to (\S+) line \d+ planned ([-+]\d+\.\d+) s after its end: (.*)$")


def floor_errors(run: Path, log: Path) -> dict:
    """Recorded minus planned offset of each reply the log's floors planned (matched by the
    replier's role and the first 40 characters of the line replied to)."""
    planned: dict[tuple[str, str], list[float]] = {}
    for m in filter(None, map(PLANNED.search, log.read_text(errors="replace").splitlines())):
        planned.setdefault((m[1], m[4][:40]), []).append(float(m[3]))
    pairs = []
    for conv in sorted((run / "conversations").iterdir()):
        if not (conv / "meta.json").is_file():
            continue
        real = [t for t in (t.to_dict() for t in read_transcript(conv)) if t.get("kind", "turn") == "turn"]
        for a, b in zip(real, real[1:]):
            plan = planned.get((b["role"], a["text"][:40]))
            if a["role"] != b["role"] and plan and len(plan) == 1:  # a line said in two runs is ambiguous
                pairs.append((plan[0], b["start"] - a["end"]))
    plan, rec = (np.asarray(x) for x in zip(*pairs))
    err = rec - plan
    return {"replies matched": len(pairs),
            "recorded - planned p10/p50/p90 s": " / ".join(f"{v:+.3f}" for v in np.percentile(err, [10, 50, 90])),
            "|error| < 0.05 / 0.1 s": f"{np.mean(abs(err) < 0.05):.0%} / {np.mean(abs(err) < 0.1):.0%}",
            "kernel mode planned / recorded s": f"{kernel_mode(list(plan))} / {kernel_mode(list(rec))}"}


def figures(run: Path) -> dict:
    offsets, turns, interrupted, backchannels, disfl, minutes, overlap = [], 0, 0, 0, 0, 0.0, []
    timing = dict.fromkeys(FISHER_PER_MIN, 0.0)  # seconds of each, summed over conversations
    for conv in sorted((run / "conversations").iterdir()):
        if not (conv / "meta.json").is_file():
            continue
        lines = [t.to_dict() for t in read_transcript(conv)]
        tracks = {p.stem: read_wav(p)[0] for p in (conv / "tracks").glob("*.wav")}
        rate = read_wav(next((conv / "tracks").glob("*.wav")))[1]
        real = [t for t in lines if t.get("kind", "turn") == "turn"]
        offsets += [b["start"] - a["end"] for a, b in zip(real, real[1:]) if a["role"] != b["role"]]
        turns += len(real)
        interrupted += sum(bool(t["interrupted"]) for t in real)
        backchannels += sum(t.get("kind") == "backchannel" for t in lines)
        disfl += sum(len(t.get("disfluencies") or []) for t in real)
        length = max(len(p) for p in tracks.values()) / rate / 60
        minutes += length
        overlap.append(turn_taking(lines, tracks, rate)["overlap_ratio"])
        for k, v in (timing_per_minute(tracks, rate) or {}).items():
            timing[k] += v * length
    o = np.asarray(offsets)
    return {
        "conversations": len(overlap), "speaker changes": len(o),
        "FTO p10/p50/p90 s": " / ".join(f"{v:.2f}" for v in np.percentile(o, [10, 50, 90])),
        "FTO mode s (100 ms bins)": modal_offset(list(o)),
        "FTO kernel mode s (80 ms)": kernel_mode(list(o)),
        "changes in overlap": f"{(o < 0).mean():.1%}",
        "overlap ratio (mean)": f"{np.mean(overlap):.3f}",
        "backchannels / min": f"{backchannels / minutes:.2f}",
        "interruptions / min": f"{interrupted / minutes:.2f}",
        "turns interrupted": f"{interrupted / turns:.1%}",
        "disfluencies / turn": f"{disfl / turns:.2f}",
        **{f"{k} s/min (Fisher {FISHER_PER_MIN[k]:g})": f"{v / minutes:.1f}" for k, v in timing.items()},
    }


def generate(out: Path, mode: str, count: int, seed: int, concurrency: int) -> float:
    cmd = [sys.executable, "-m", "synthconv.cli", "generate", "--count", str(count), "--seed", str(seed),
           "--concurrency", str(concurrency), "--turn-taking", mode, "--out", str(out)]
    t0 = time.monotonic()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    return sum(r["duration_s"] or 0 for r in rows) / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--run", type=Path, nargs="*", help="measure these runs instead of generating")
    ap.add_argument("--floor-log", type=Path, help="with one room --run: its worker's log (SYNTHCONV_DEBUG=1)")
    args = ap.parse_args()
    if args.floor_log:
        print(json.dumps(floor_errors(args.run[0], args.floor_log), indent=1))
        return
    if args.run:
        for run in args.run:
            print(run, json.dumps(figures(run), indent=1, ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        table = {}
        for mode in ("strict", "natural"):
            speed = generate(Path(tmp) / mode, mode, args.count, args.seed, args.concurrency)
            table[mode] = {**figures(Path(tmp) / mode), "x real time": f"{speed:.1f}"}
    print(f"synthconv generate --count {args.count} --seed {args.seed} (offline engine, local transport)")
    print(f"{'':>26} {'strict':>18} {'natural':>18}")
    for key in table["natural"]:
        print(f"{key:>26} {table['strict'][key]!s:>18} {table['natural'][key]!s:>18}")


if __name__ == "__main__":
    main()
