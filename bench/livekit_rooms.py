"""Benchmark: how many LiveKit rooms one machine carries, against the real livekit-server.

Everything on one box: the pinned `livekit-server --dev` (built by `make livekit-server`), the
CLI with its observer, the local agent worker (one job process per agent) and the offline
engine, inside a private network namespace. For each N it runs
`generate --transport livekit --count N --concurrency N` (N rooms at once) and prints:

- conversations ok, wall time, audio made;
- the reply gap, from the end of one turn to the start of the next in the recording (median
  and 90th percentile): what a listener hears as slowness when anything falls behind;
- the product's CPU (generate, observer, worker and job processes) per room, in cores, and
  livekit-server's CPU separately;
- packets lost or dropped on the way: livekit-server's own packet and NACK counters (its
  Prometheus endpoint), the ones that are not zero.

    make bench-livekit        (or: .venv/bin/python bench/livekit_rooms.py --rooms 1 2 4 8)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

METRICS_PORT = 6789


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def packet_counters(host: str) -> dict[str, float]:
    """livekit-server's packet counters (Prometheus text format), summed per metric and type."""
    text = urllib.request.urlopen(f"http://{host}:{METRICS_PORT}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for m in re.finditer(r"^(livekit_(?:packet|nack)_total)\{([^}]*)\} (\S+)$", text, re.M):
        kind = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))).get("type", "")
        key = f"{m.group(1)}:{kind}"
        out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


async def one(n: int, seed: int, job_timeout: int, workdir: Path) -> dict:
    """One run of n conversations at once; its figures."""
    from livekit_server import API_KEY, API_SECRET, LiveKitServer
    from netns import SERVER_HOST

    server = LiveKitServer(SERVER_HOST, workdir / f"server-{n}.log",
                           extra=["--config-body", f"prometheus:\n  port: {METRICS_PORT}\n"])
    cpu0, t0 = cpu_children(), time.monotonic()
    await server.start()
    try:
        out = workdir / f"run-{n}"
        env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--count", str(n),
            "--concurrency", str(n), "--seed", str(seed), "--retries", "0", "--job-timeout", str(job_timeout),
            "--out", str(out), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await cli.wait()
        wall = time.monotonic() - t0
        packets = packet_counters(SERVER_HOST)
        server_cpu = server.cpu_seconds()
    finally:
        await server.stop()
    product_cpu = cpu_children() - cpu0 - server_cpu
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    gaps, audio = [], 0.0
    for row in rows:
        if row["status"] != "ok":
            continue
        audio += row["duration_s"]
        folder = out / "conversations" / row["id"]
        turns = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
        gaps += [b["start"] - a["end"] for a, b in zip(turns, turns[1:])]
    q = statistics.quantiles(gaps, n=10) if len(gaps) >= 2 else [float("nan")] * 9
    return {"n": n, "ok": sum(r["status"] == "ok" for r in rows), "wall": wall, "audio": audio,
            "gap_p50": statistics.median(gaps) if gaps else float("nan"), "gap_p90": q[8],
            "product_cores_per_room": product_cpu / wall / n, "server_cores": server_cpu / wall,
            "packets": packets, "errors": sorted({r["error"] for r in rows if r["status"] != "ok"})}


async def inner(args: argparse.Namespace) -> None:
    from livekit_server import VERSION

    print(f"generate --transport livekit, offline engine, livekit-server {VERSION} on the same box; "
          f"{os.cpu_count()} cores")
    print(f"{'rooms':>5} {'ok':>3} {'wall s':>7} {'audio s':>8} {'gap p50':>7} {'gap p90':>7} "
          f"{'product cores/room':>18} {'server cores':>12}  server packet counters", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rooms:
            r = await one(n, args.seed, args.job_timeout, Path(tmp))
            counters = ", ".join(f"{k}={v:g}" for k, v in sorted(r["packets"].items()) if v) or "none"
            print(f"{r['n']:>5} {r['ok']:>3} {r['wall']:>7.1f} {r['audio']:>8.1f} {r['gap_p50']:>7.2f} "
                  f"{r['gap_p90']:>7.2f} {r['product_cores_per_room']:>18.2f} {r['server_cores']:>12.2f}  {counters}",
                  flush=True)
            for e in r["errors"]:
                print(f"      failed: {e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--job-timeout", type=int, default=300)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        asyncio.run(inner(args))
        return
    from livekit_server import unavailable
    from netns import netns_argv, netns_unavailable

    why = unavailable() or netns_unavailable()
    if why:
        sys.exit(f"bench/livekit_rooms.py: {why}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"}
    argv = [sys.executable, __file__, "--inner", "--seed", str(args.seed), "--job-timeout", str(args.job_timeout),
            "--rooms", *map(str, args.rooms)]
    sys.exit(subprocess.run(netns_argv(argv), env=env).returncode)


if __name__ == "__main__":
    main()
