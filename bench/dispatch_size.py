"""Benchmark: how large a LiveKit dispatch's metadata is (issue 27).

Each dispatch carries the job as played (the scenario with its branch, both personas, the
facts drawn), the engine spec and the timing, so a worker on another machine needs no library.
livekit-server refuses a dispatch whose metadata exceeds `limit.max_metadata_size` (512 KiB by
default; `synthconv.transport.protocol.MAX_METADATA_BYTES`). This plans `--rounds` jobs of every
scenario of the library (sampled personas, as `generate` does by default) and prints the size of
each scenario's largest dispatch, the median over all, and the largest against the limit.

    .venv/bin/python bench/dispatch_size.py [--rounds 8] [--scenarios-dir DIR] [--personas-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from synthconv.config import RunConfig  # noqa: E402
from synthconv.job import plan  # noqa: E402
from synthconv.scenario import load_library  # noqa: E402
from synthconv.transport.protocol import MAX_METADATA_BYTES, Dispatch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="jobs per scenario")
    ap.add_argument("--scenarios-dir", type=Path, default=ROOT / "scenarios")
    ap.add_argument("--personas-dir", type=Path, default=ROOT / "personas")
    args = ap.parse_args()
    library = load_library(args.scenarios_dir, args.personas_dir)
    config = RunConfig.build(transport="livekit")
    jobs = plan(library, args.rounds * len(library.scenarios), seed=1, personas="sampled")
    sizes: dict[str, list[int]] = {}
    for job in jobs:
        played = job.resolve(library)
        for role in played.roles:
            meta = Dispatch(role=role, played=played, engine=config.engine_spec, timing=config.timing).to_json()
            sizes.setdefault(job.scenario, []).append(len(meta.encode()))
    flat = sorted(s for v in sizes.values() for s in v)
    print(f"{len(jobs)} jobs, {len(flat)} dispatches over {len(sizes)} scenarios")
    for sid, v in sorted(sizes.items(), key=lambda kv: -max(kv[1]))[:5]:
        print(f"  largest: {sid:40s} {max(v):7d} bytes")
    print(f"median dispatch {statistics.median(flat):.0f} bytes, p90 {flat[int(0.9 * len(flat))]} bytes, "
          f"max {flat[-1]} bytes = {100 * flat[-1] / MAX_METADATA_BYTES:.1f} % of livekit-server's "
          f"{MAX_METADATA_BYTES // 1024} KiB limit")


if __name__ == "__main__":
    main()
