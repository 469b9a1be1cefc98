"""Benchmark: how many LiveKit rooms one machine carries, against the real livekit-server.

Everything on one box: the pinned `livekit-server --dev` (built by `make livekit-server`), the
CLI with its observer, the local agent worker (one job process per agent) and the offline
engine, inside a private network namespace. For each N it runs
`generate --transport livekit --count N --concurrency N` (N rooms at once; `--waves W` makes it
W x N conversations, W per room one after another, as in a long run) and prints:

- conversations ok, wall time, audio made;
- times real time (audio made per second of wall time, all rooms together);
- the floor-transfer offset at each change of speaker (next turn's start minus the previous
  turn's end; median and 90th percentile) and the share of speaker changes in overlap: what a
  listener hears as slowness when anything falls behind;
- the worst real-time lag of any conversation (meta.json `realtime_lag_s`, when recorded);
- the product's CPU (generate, observer, worker and job processes) per room, in cores, also as
  CPU seconds per second of audio (less distorted by other load on the machine than wall time),
  and livekit-server's CPU separately;
- the machine's 1-minute load average before the run (other sessions share the cores);
- what livekit-server counted (its Prometheus endpoint): RTP packets, retransmissions, packets
  lost (an audio packet is one 20 ms Opus frame) and NACKs.

    make bench-livekit        (or: .venv/bin/python bench/livekit_rooms.py --rooms 1 2 4 8)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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


TICK = os.sysconf("SC_CLK_TCK")


def _kind(pid: int) -> str:
    """Which part of the product a process is: the agents (job processes, forked by the agent
    worker's forkserver), the agent worker itself, or generate (CLI, supervisor, observers)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return "generate"
    return "agents" if "forkserver" in cmd else "agent worker" if "synthconv.cli\0worker" in cmd else "generate"


def _stat(pid: str) -> tuple[int, int, float] | None:
    """(ppid, start time, user + system CPU seconds) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / TICK


async def tree_cpu(roots: list[int], seen: dict[tuple[int, int], float], kinds: dict[tuple[int, int], str],
                   stop: asyncio.Event) -> None:
    """CPU seconds of every process descended from `roots`, polled until `stop` (job processes of
    the agent worker are grandchildren that nobody waits for, so getrusage would miss them)."""
    tree = set(roots)
    while not stop.is_set():
        stats = {int(p): st for p in os.listdir("/proc") if p.isdigit() and (st := _stat(p))}
        grew = True
        while grew:
            new = {pid for pid, (ppid, _, _) in stats.items() if ppid in tree} - tree
            tree |= new
            grew = bool(new)
        for pid in tree:
            if pid in stats:
                _, start, cpu = stats[pid]
                kinds.setdefault((pid, start), _kind(pid))
                seen[(pid, start)] = max(cpu, seen.get((pid, start), 0.0))
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


def packet_counters(host: str) -> dict[str, float]:
    """livekit-server's own counters (Prometheus text format): RTP packets through it, of them
    retransmitted, packets lost (one audio packet is one 20 ms Opus frame), NACKs."""
    text = urllib.request.urlopen(f"http://{host}:{METRICS_PORT}/metrics", timeout=5).read().decode()
    out = {"packets": 0.0, "retransmitted": 0.0, "lost": 0.0, "nacks": 0.0}
    for m in re.finditer(r"^(livekit_packet_total|livekit_packet_loss_total|livekit_nack_total)\{([^}]*)\} (\S+)$",
                         text, re.M):
        labels, value = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
        if m.group(1) == "livekit_packet_total":
            out["packets"] += value
            out["retransmitted"] += value if labels.get("transmission") == "retransmit" else 0.0
        else:
            out["lost" if m.group(1) == "livekit_packet_loss_total" else "nacks"] += value
    return out


OPENAI_PORT = 8765


async def one(n: int, seed: int, job_timeout: int, workdir: Path, waves: int = 1, engine: str = "offline",
              workers: int = 0, tts: str = "espeak") -> dict:
    """One run of n conversations at once (`waves` x n in all); its figures. `workers` > 0: that
    many `synthconv worker` processes of their own instead of generate's local one."""
    from livekit_server import API_KEY, API_SECRET, LiveKitServer
    from netns import SERVER_HOST

    server = LiveKitServer(SERVER_HOST, workdir / f"server-{n}.log",
                           extra=["--config-body", f"prometheus:\n  port: {METRICS_PORT}\n"])
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    await server.start()
    try:
        out = workdir / f"run-{n}"
        env = {**os.environ, "LIVEKIT_URL": server.url, "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}
        extra, helpers = ["--tts", tts] if engine == "offline" else [], []
        if engine.startswith("openai-"):  # the tests' loopback OpenAI server stands in for the API
            loop = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "openai_loopback", "--port", str(OPENAI_PORT), stdout=asyncio.subprocess.PIPE,
                stderr=open(workdir / f"openai-{n}.log", "wb"))  # noqa: SIM115
            helpers.append(loop)
            await asyncio.wait_for(loop.stdout.readline(), 60)
            env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{OPENAI_PORT}/v1", OPENAI_API_KEY="sk-loopback-bench")
            extra += ["--yes"]
        pool = []
        for k in range(workers):
            with open(workdir / f"worker-{n}-{k}.log", "wb") as log:
                pool.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "synthconv.cli", "worker", "--preload", engine, env=env, stdout=log,
                    stderr=log))
        while workers and server.log.read_text(errors="replace").count("worker registered") < workers:
            await asyncio.sleep(0.5)
        helpers += pool
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--count", str(n * waves),
            "--concurrency", str(n), "--seed", str(seed), "--retries", "0", "--job-timeout", str(job_timeout),
            "--engine", engine, *(["--no-local-worker"] if workers else []), *extra,
            "--out", str(out), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        seen: dict[tuple[int, int], float] = {}
        kinds: dict[tuple[int, int], str] = {}
        stop = asyncio.Event()
        poll = asyncio.create_task(tree_cpu([cli.pid, *(w.pid for w in pool)], seen, kinds, stop))
        await cli.wait()
        stop.set()
        await poll
        for h in helpers:
            h.terminate()
            await h.wait()
        wall = time.monotonic() - t0
        packets = packet_counters(SERVER_HOST)
        server_cpu = server.cpu_seconds()
    finally:
        await server.stop()
    product_cpu = sum(seen.values())
    parts = {k: sum(v for key, v in seen.items() if kinds[key] == k) / wall / n for k in set(kinds.values())}
    rows = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
    offsets, audio, lags = [], 0.0, []
    for row in rows:
        if row["status"] != "ok":
            continue
        audio += row["duration_s"]
        folder = out / "conversations" / row["id"]
        turns = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
        turns = [t for t in turns if t.get("kind", "turn") == "turn"]
        offsets += [b["start"] - a["end"] for a, b in zip(turns, turns[1:]) if a["role"] != b["role"]]
        lag = json.loads((folder / "meta.json").read_text()).get("realtime_lag_s")
        if isinstance(lag, (int, float)):
            lags.append(lag)
    q = statistics.quantiles(offsets, n=10) if len(offsets) >= 2 else [float("nan")] * 9
    ok = sum(r["status"] == "ok" for r in rows)
    return {"n": n, "ok": f"{ok}/{len(rows)}", "wall": wall, "audio": audio, "load": load,
            "fto_p50": statistics.median(offsets) if offsets else float("nan"), "fto_p90": q[8],
            "overlapped": sum(o < 0 for o in offsets) / len(offsets) if offsets else float("nan"),
            "lag": max(lags) if lags else None,
            "product_cores_per_room": product_cpu / wall / n, "cpu_per_audio": product_cpu / audio if audio else float("nan"),
            "parts": parts, "server_cores": server_cpu / wall,
            "packets": packets, "errors": sorted({r["error"] for r in rows if r["status"] != "ok"})}


async def inner(args: argparse.Namespace) -> None:
    from livekit_server import VERSION

    print(f"generate --transport livekit, {args.engine} engine"
          f"{f' ({args.tts} voices)' if args.engine == 'offline' else ''}, {args.workers or 'a local'} worker process(es), "
          f"livekit-server {VERSION} on the same box; "
          f"{os.cpu_count()} cores")
    print(f"{'rooms':>5} {'ok':>5} {'wall s':>7} {'audio s':>8} {'x real':>6} {'FTO p50':>7} {'FTO p90':>7} "
          f"{'overlap':>7} {'worst lag':>9} {'cores/room':>10} {'cpu s/audio s':>13} {'server cores':>12} "
          f"{'load':>5}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for n in args.rooms:
            r = await one(n, args.seed, args.job_timeout, workdir, args.waves, args.engine, args.workers, args.tts)
            counters = ", ".join(f"{k} {v:g}" for k, v in r["packets"].items())
            lag = "n/a" if r["lag"] is None else f"{r['lag']:.2f}"
            print(f"{r['n']:>5} {r['ok']:>5} {r['wall']:>7.1f} {r['audio']:>8.1f} {r['audio'] / r['wall']:>6.2f} "
                  f"{r['fto_p50']:>7.2f} {r['fto_p90']:>7.2f} {r['overlapped']:>7.1%} {lag:>9} "
                  f"{r['product_cores_per_room']:>10.3f} {r['cpu_per_audio']:>13.3f} {r['server_cores']:>12.2f} "
                  f"{r['load']:>5.2f}", flush=True)
            print(f"      livekit-server's packet counters: {counters}", flush=True)
            print("      product cores/room by part: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["parts"].items())), flush=True)
            for e in r["errors"]:
                print(f"      failed: {e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--job-timeout", type=int, default=300)
    ap.add_argument("--waves", type=int, default=1, help="conversations per room, one after another: with 2 or "
                    "more, process start-up is amortized as in a long run")
    ap.add_argument("--keep", type=Path, help="keep the runs (and server logs) in this folder")
    ap.add_argument("--engine", default="offline", help="offline, openai-realtime or openai-pipeline (against the "
                    "tests' loopback OpenAI server)")
    ap.add_argument("--workers", type=int, default=0, help="this many `synthconv worker` processes of their own "
                    "(generate --no-local-worker) instead of generate's local worker")
    ap.add_argument("--tts", default="espeak", help="the offline engine's voices: espeak (rooms' default) or auto "
                    "(Piper where a persona has a catalog voice)")
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
            "--waves", str(args.waves), "--engine", args.engine, "--workers", str(args.workers), "--tts", args.tts, *(["--keep", str(args.keep.resolve())] if args.keep else []),
            "--rooms", *map(str, args.rooms)]
    sys.exit(subprocess.run(netns_argv(argv), env=env).returncode)


if __name__ == "__main__":
    main()
