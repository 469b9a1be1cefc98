"""Benchmark: how varied a 200-conversation offline run is, and how fast it is made.

Prints the figures of synthconv/diversity.py (repeated lines, distinct 2/3-grams, distinct
speakers, the speaker-disjoint 80/10/10 split) against the goals of issue 15, and the speed of
`synthconv generate` in times real time. Three ways to get the conversations:

    bench/diversity.py                      # a real offline run (minutes): figures and speed
    bench/diversity.py --run RUN            # an existing run folder: figures (and its speed)
    bench/diversity.py --text-only          # the plan's dialogue as text alone (seconds): figures
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthconv.diversity import Sample, figures, format_figures, run_samples

GOALS = [("repeated_share_4_words", "<", 0.05), ("distinct_3grams", ">", 0.75), ("distinct_speakers", ">=", 150)]


def text_only(count: int, seed: int, personas: str) -> list[Sample]:
    from synthconv.engine.offline.dryrun import dialogue
    from synthconv.job import plan
    from synthconv.scenario import load_library

    lib = load_library()
    return [Sample(id=j.id, scenario=j.scenario, roles=j.roles, utterances=[t for _, t in dialogue(j, lib)])
            for j in plan(lib, count, seed, personas=personas)]


def speed(run: Path, wall: float | None) -> str:
    rows = [json.loads(line) for line in (run / "conversations.jsonl").read_text().splitlines() if line]
    audio = sum(r["duration_s"] or 0 for r in rows)
    ok = sum(r["status"] == "ok" for r in rows)
    if wall is None:
        info = json.loads((run / "run.json").read_text())
        try:
            from datetime import datetime
            wall = (datetime.fromisoformat(info["ended_at"]) - datetime.fromisoformat(info["started_at"])).total_seconds()
        except (KeyError, TypeError, ValueError):
            return f"{ok}/{len(rows)} ok, {audio:.0f} s of audio (wall time unknown)"
    return f"{ok}/{len(rows)} ok, {audio:.0f} s of audio in {wall:.0f} s: {audio / wall:.1f}x real time"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--personas", default="sampled")
    ap.add_argument("--run", type=Path, help="Measure this run folder instead of making one.")
    ap.add_argument("--text-only", action="store_true", help="The plan's dialogue without audio.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    line = None
    if args.text_only:
        samples = text_only(args.count, args.seed, args.personas)
        how = f"text only, plan of {args.count}, seed {args.seed}, --personas {args.personas}"
    elif args.run:
        samples, how, line = run_samples(args.run), f"run folder {args.run}", speed(args.run, None)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            cmd = [sys.executable, "-m", "synthconv.cli", "generate", "--count", str(args.count), "--seed",
                   str(args.seed), "--concurrency", str(args.concurrency), "--personas", args.personas,
                   "--out", str(out)]
            t0 = time.monotonic()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            wall = time.monotonic() - t0
            samples, line = run_samples(out), speed(out, wall)
        how = f"offline run of {args.count}, seed {args.seed}, concurrency {args.concurrency}, --personas {args.personas}"
    f = figures(samples)
    if args.json:
        print(json.dumps({"how": how, "speed": line, **f}, indent=2, ensure_ascii=False))
        return
    print(how)
    if line:
        print(f"speed: {line}")
    for text in format_figures(f):
        print(text)
    split = f["speaker_split"]
    checks = [(k, op, goal, f[k]) for k, op, goal in GOALS] + [("split off by points", "<=", 2, split["off_by_points"])]
    for name, op, goal, got in checks:
        ok = got is not None and {"<": got < goal, ">": got > goal, ">=": got >= goal, "<=": got <= goal}[op]
        print(f"goal {name} {op} {goal}: {got} {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
