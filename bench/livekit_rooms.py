"""Benchmark: how many LiveKit conversations run at once on this machine before turns slow down.

Everything on one box, as in CI: the loopback LiveKit server (tests/livekit_loopback, its own
process), the CLI with its observer, the local agent worker and the offline engine. For each
concurrency N it runs `generate --transport livekit --count N --concurrency N` (N rooms at
once) inside a private network namespace and prints:

- wall time, audio made, and their ratio (1.0 means real time: a room cannot beat it);
- the reply gap: from the end of one turn to the start of the next, measured in the recording
  (median and 90th percentile). It is what a listener hears as slowness; it grows when the
  agents' VAD, STT, LLM or TTS, or the relay, fall behind;
- CPU seconds per conversation (server, CLI, observer and agents together; and the loopback
  server's part, which a real LiveKit server, forwarding packets without transcoding, would
  mostly not cost) and the share of all cores used;
- frames the relay dropped because a subscriber fell behind.

    make bench-livekit        (or: .venv/bin/python bench/livekit_rooms.py --concurrency 1 2 3 4)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

PORT = 7880


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def one(n: int, seed: int, job_timeout: int) -> dict:
    """One run of n conversations at once; its figures."""
    import psutil

    from livekit_loopback.scenarios import API_KEY, API_SECRET, ServerProcess

    cpu0, t0 = cpu_children(), time.monotonic()
    async with ServerProcess(PORT, stderr=asyncio.subprocess.DEVNULL) as server:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--count", str(n),
                "--concurrency", str(n), "--seed", str(seed), "--retries", "0", "--job-timeout", str(job_timeout),
                "--out", str(out), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await cli.wait()
            wall = time.monotonic() - t0
            dropped = (await server.hook("state"))["relay_dropped_frames"]
            times = psutil.Process(server.proc.pid).cpu_times()
            server_cpu = times.user + times.system
            await server.stop()
            rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
            errors = sorted({r["error"] for r in rows if r["status"] != "ok"})
            gaps, audio = [], 0.0
            for row in rows:
                if row["status"] != "ok":
                    continue
                audio += row["duration_s"]
                turns = [json.loads(line) for line in
                         (out / "conversations" / row["id"] / "transcript.jsonl").read_text().splitlines()]
                gaps += [b["start"] - a["end"] for a, b in zip(turns, turns[1:])]
    cpu = cpu_children() - cpu0
    ok = sum(r["status"] == "ok" for r in rows)
    q = statistics.quantiles(gaps, n=10) if len(gaps) >= 2 else [float("nan")] * 9
    return {"n": n, "ok": ok, "wall": wall, "audio": audio, "gap_p50": statistics.median(gaps) if gaps else float("nan"),
            "gap_p90": q[8], "cpu_per_conv": cpu / n, "server_per_conv": server_cpu / n, "cores": cpu / wall / (os.cpu_count() or 1), "dropped": dropped,
            "errors": errors}


async def inner(args: argparse.Namespace) -> None:
    print(f"generate --transport livekit, offline engine, loopback server; {os.cpu_count()} cores")
    print(f"{'rooms':>5} {'ok':>3} {'wall s':>7} {'audio s':>8} {'x real':>6} {'gap p50':>7} {'gap p90':>7} "
          f"{'CPU s/conv':>10} {'of it server':>12} {'cores used':>10} {'dropped':>7}", flush=True)
    for n in args.concurrency:
        r = await one(n, args.seed, args.job_timeout)
        # a conversation's audio runs in real time, so n rooms at once make at most n x real time
        print(f"{r['n']:>5} {r['ok']:>3} {r['wall']:>7.1f} {r['audio']:>8.1f} {r['audio'] / r['wall']:>6.2f} "
              f"{r['gap_p50']:>7.2f} {r['gap_p90']:>7.2f} {r['cpu_per_conv']:>10.1f} {r['server_per_conv']:>12.1f} "
              f"{r['cores']:>9.0%} "
              f"{r['dropped']:>7}", flush=True)
        for e in r["errors"]:
            print(f"      failed: {e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--job-timeout", type=int, default=300)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        asyncio.run(inner(args))
        return
    from livekit_loopback.netns import netns_argv, netns_unavailable

    why = netns_unavailable()
    if why:
        sys.exit(f"bench/livekit_rooms.py: {why}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"}
    argv = [sys.executable, __file__, "--inner", "--seed", str(args.seed), "--job-timeout", str(args.job_timeout),
            "--concurrency", *map(str, args.concurrency)]
    sys.exit(subprocess.run(netns_argv(argv), env=env).returncode)


if __name__ == "__main__":
    main()
