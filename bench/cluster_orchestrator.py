"""Benchmark: what one orchestrator costs per room, next to what the agent workers cost (issue 27).

Runs the cluster of the cluster test (tests/livekit_cluster.py: Redis, two livekit-server nodes,
two worker hosts, the orchestrator on a host of its own, each in its own namespaces) with
`generate --no-local-worker --concurrency N`, N rooms at once for `--waves` rounds, and prints
per host: CPU in cores per room while rooms run (CPU seconds after the first room started,
over the room-seconds run.log counts from each job's start to its end), and memory as PSS
(forked processes share pages): the orchestrator's main process (CLI + supervisor) and each
runner process (one per room at once, holding that room's observer), a worker's main process
and each agent job process.

    .venv/bin/python bench/cluster_orchestrator.py [--rooms 4] [--waves 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

SHORT = ["--scenario", "gas-smell", "--scenario", "test-results", "--scenario", "flight-rebooking"]


def room_seconds(run_log: str) -> float:
    """Seconds rooms were held, summed over jobs: from each job's start to its ok/failed line."""
    started, total = {}, 0.0
    for stamp, what, job in re.findall(r"^(\S+) (start|ok|failed|retry) (\S+?):? ", run_log, re.M):
        t = dt.datetime.fromisoformat(stamp).timestamp()
        if what == "start":
            started[job] = t
        elif job in started:
            total += t - started.pop(job)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=4, help="rooms at once (--concurrency)")
    ap.add_argument("--waves", type=int, default=2, help="conversations per room, one after another")
    ap.add_argument("--keep", type=Path, help="keep the run and the hosts' logs here")
    args = ap.parse_args()
    from livekit_server import unavailable
    from netns import netns_unavailable, run_module_in_netns

    why = unavailable() or netns_unavailable()
    if why:
        sys.exit(f"bench/cluster_orchestrator.py: {why}")
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.keep or Path(tmp)) / "run"
        proc = run_module_in_netns("livekit_cluster", "ok", str(out), "--count", str(args.rooms * args.waves),
                                   "--concurrency", str(args.rooms), "--seed", "3", "--job-timeout", "300",
                                   "--retries", "0", *SHORT, timeout=3600,
                                   env={"PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])})
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            sys.exit(f"the cluster run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        res = json.loads(lines[-1][len("RESULT "):])
        run_log = (out / "run.log").read_text()
        rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    held = room_seconds(run_log)
    ok = sum(r["status"] == "ok" for r in rows)
    audio = sum(r["duration_s"] or 0 for r in rows)
    print(f"{ok}/{len(rows)} ok, {args.rooms} rooms at once, {audio:.0f} s of audio, rooms held {held:.0f} s, "
          f"generate {res['seconds']:.0f} s; {os.cpu_count()} cores (shared: load average {os.getloadavg()[0]:.1f})")
    print(f"{'host':>12} {'CPU s':>7} {'cores/room':>10} {'peak PSS MB':>11}  PSS MB per process (count)")
    for host, u in res["usage"].items():
        after = u["cpu_s"] - res["cpu_at_first_room"].get(host, 0.0)
        each = ", ".join(f"{k} {v} ({u['processes'][k]})" for k, v in u["pss_mb_each"].items())
        print(f"{host:>12} {u['cpu_s']:>7.1f} {after / held:>10.3f} {u['pss_mb']:>11}  {each}")
    for e in sorted({r["error"] for r in rows if r["status"] != "ok"}):
        print(f"  failed: {e}")


if __name__ == "__main__":
    main()
