"""Benchmark `synthconv serve`: its pages in Debian's Chromium, its API on a large run, and how far
the live page's audio trails the room.

    .venv/bin/python bench/serve_pages.py pages RUN [--players 5]
    .venv/bin/python bench/serve_pages.py api [--conversations 20000] [--keep DIR]
    .venv/bin/python bench/serve_pages.py live [--shots DIR]

pages: serves RUN's parent folder with the real CLI, then prints, from navigation to the content
being on screen: the runs page (table shown), the run's conversations page (every row shown),
and the player for a few conversations (transcript shown, both waveforms decoded and every turn
drawn as a region), plus the API time of the conversation call (it validates the conversation,
decoding its mix). Make RUN with e.g. `synthconv generate --count 200`.

api: writes a synthetic run of N conversations (real run.json, conversations.jsonl, meta.json and
transcripts; every folder's tracks and mix are hard links to one small file, so 20,000 take a few
hundred MB of metadata and no audio), serves it and prints: the runs list, one conversation, one
range request on a mix (the first and the median of 10 more), six range requests at once, and the
server's resident memory. Run it against another checkout's code with PYTHONPATH=that/checkout.

live: inside a private network namespace with the pinned livekit-server (as the LiveKit tests do),
starts `synthconv serve` with LiveKit, opens the runs page in Chromium, starts a conversation from
its form and watches the live page. The page notes when each agent's audio starts after a pause
(its Web Audio analyser, `performance.timeOrigin + now()`); a hidden listener in this process,
built from the recorder's own code (transport/livekit.py's Observer, the same 100 ms frames and
the same clock anchoring), notes the same onsets in the room. Prints how far the page trails it
(median and 90th percentile over the matched onsets) and the lines the page showed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """A real `synthconv serve` process on a free loopback port."""

    def __init__(self, runs: Path, *extra: str, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "serve", "--runs", str(runs),
                                      "--port", str(self.port), *extra], stdout=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + "/api/openapi.json", timeout=10).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"synthconv serve exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        raise RuntimeError("synthconv serve did not answer")

    def get(self, path: str, headers: dict | None = None) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers or {}), timeout=600) as r:
            body = r.read()
        return time.perf_counter() - t0, body

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- pages -------------------------------------------------------------------------------------


def pages(run: Path, players: int) -> None:
    run = run.resolve()
    serve = Serve(run.parent)
    url = serve.url
    try:
        rows = json.loads(serve.get(f"/api/v1/runs/{run.name}/conversations")[1])["conversations"]
        ok = [r for r in rows if r["status"] == "ok"]
        print(f"run {run.name}: {len(rows)} conversations, {len(ok)} ok")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1200, "height": 860})

            def timed(target: str, ready: str) -> float:
                page.goto("about:blank")
                t0 = time.perf_counter()
                page.goto(target)
                page.wait_for_function(ready, timeout=60000)
                return time.perf_counter() - t0

            t = timed(url + "/", "document.querySelectorAll('#runs tbody tr').length > 0")
            print(f"runs page: {t * 1000:.0f} ms")
            t = timed(f"{url}/#/runs/{run.name}",
                      f"document.querySelectorAll('#conversations tbody tr').length == {len(rows)}")
            print(f"conversations page ({len(rows)} rows): {t * 1000:.0f} ms")
            shown, apis = [], []
            for r in ok[:players]:
                apis.append(serve.get(f"/api/v1/runs/{run.name}/conversations/{r['id']}")[0])
                shown.append(timed(f"{url}/#/runs/{run.name}/{r['id']}",
                                   f"document.querySelectorAll('#transcript li').length == {r['turns']} && "
                                   "[...document.querySelectorAll('.lane')].every(l => l.firstChild && "
                                   "l.firstChild.shadowRoot && l.firstChild.shadowRoot.querySelectorAll("
                                   "'[part~=region]').length > 0)"))
            mean_audio = statistics.mean(r["duration_s"] for r in ok[:len(shown)])
            print(f"player ({len(shown)} conversations, {mean_audio:.0f} s mean audio): median "
                  f"{statistics.median(shown) * 1000:.0f} ms, max {max(shown) * 1000:.0f} ms; "
                  f"its API call median {statistics.median(apis) * 1000:.0f} ms")
            browser.close()
    finally:
        serve.stop()


# --- api on a large synthetic run ----------------------------------------------------------------


def synthetic_run(run: Path, n: int) -> list[str]:
    """A run folder of `n` complete conversations that `inspect` and serve read like a real one;
    the audio files are hard links to one tiny WAV and one 64 kB stand-in for the mix."""
    import wave

    run.mkdir(parents=True)
    audio = run.parent / f".{run.name}-audio"
    audio.mkdir()
    with wave.open(str(audio / "track.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(3200))
    (audio / "mix.mp3").write_bytes(os.urandom(65536))
    roles = {"agent": "agent-a", "customer": "cust-b"}
    jobs = [{"id": f"outage-{i:08x}", "scenario": "outage", "roles": roles, "seed": i} for i in range(n)]
    labels = {"floor_transfer_offset_s": {"n": 3, "p10": 0.1, "p50": 0.3, "p90": 0.6, "mode": 0.3, "overlapped": 0.0},
              "overlap_ratio": 0.05, "backchannels_per_min": 4.0, "interrupted_turns": 0.0}
    index = []
    for i, job in enumerate(jobs):
        folder = run / "conversations" / job["id"]
        (folder / "tracks").mkdir(parents=True)
        for role in roles:
            os.link(audio / "track.wav", folder / "tracks" / f"{role}.wav")
        os.link(audio / "mix.mp3", folder / "mix.mp3")
        turns = [{"turn": t, "role": ("agent", "customer")[t % 2], "speaker": "X", "text": f"line {t}",
                  "start": t * 2.0, "end": t * 2.0 + 1.5, "interrupted": False, "heard": f"line {t}", "kind": "turn"}
                 for t in range(4)]
        (folder / "transcript.jsonl").write_text("".join(json.dumps(t) + "\n" for t in turns))
        meta = {"id": job["id"], "scenario": {"id": "outage"}, "personas": {r: {"id": p} for r, p in roles.items()},
                "seed": i, "labels": labels, "wer": 0.05, "sample_rate": 16000, "duration_s": 8.0, "turns": 4}
        (folder / "meta.json").write_text(json.dumps(meta))
        index.append({"id": job["id"], "status": "ok", "scenario": "outage", "roles": roles, "duration_s": 8.0,
                      "turns": 4, "error": None})
    (run / "conversations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in index))
    (run / "run.json").write_text(json.dumps({"flags": {"engine": "offline", "transport": "local"}, "seed": 0,
                                              "count": n, "jobs": jobs, "started_at": "2026-12-01T00:00:00+00:00",
                                              "ended_at": "2026-12-01T01:00:00+00:00"}))
    return [j["id"] for j in jobs]


def api(n: int, keep: Path | None) -> None:
    base = Path(keep or tempfile.mkdtemp(prefix="serve-bench-"))
    runs = base / "runs"
    t0 = time.perf_counter()
    ids = synthetic_run(runs / "big", n)
    print(f"synthetic run of {n} conversations written in {time.perf_counter() - t0:.1f} s")
    serve = Serve(runs)
    try:
        print(f"server up, resident memory {serve.rss_mb():.0f} MB")
        conv = f"/api/v1/runs/big/conversations/{ids[n // 2]}"
        mix = f"{conv}/mix.mp3"
        rng = {"Range": "bytes=1000-1999"}
        cold, body = serve.get(f"/api/v1/runs/big/conversations/{ids[-1]}/mix.mp3", rng)
        assert len(body) == 1000
        first, _ = serve.get("/api/v1/runs")
        again, _ = serve.get("/api/v1/runs")
        print(f"GET /api/v1/runs (the run's summary reads every transcript): first {first * 1000:.0f} ms, "
              f"again {again * 1000:.0f} ms")
        t, _ = serve.get(conv + "?validate=false")
        print(f"GET one conversation (validate=false): {t * 1000:.0f} ms")
        warm = [serve.get(f"/api/v1/runs/big/conversations/{ids[i]}/mix.mp3", rng)[0] for i in range(10)]
        print(f"one range request on a mix: first {cold * 1000:.0f} ms, then median "
              f"{statistics.median(warm) * 1000:.1f} ms (10 conversations)")
        times: list[float] = []

        def one(i: int) -> None:
            times.append(serve.get(f"/api/v1/runs/big/conversations/{ids[i * 97]}/mix.mp3", rng)[0])

        t0 = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(f"six range requests at once: all done in {(time.perf_counter() - t0) * 1000:.0f} ms, "
              f"slowest {max(times) * 1000:.0f} ms")
        t, _ = serve.get(mix)
        print(f"a whole mix (64 kB): {t * 1000:.1f} ms; server resident memory now {serve.rss_mb():.0f} MB")
    finally:
        serve.stop()
        if keep is None:
            shutil.rmtree(base)


# --- live page audio delay ----------------------------------------------------------------------


def live(shots: Path | None) -> None:
    """Re-run this script inside a private network namespace (the pinned livekit-server and
    Chromium's WebRTC need a real-looking interface)."""
    sys.path[:0] = [str(ROOT / "tests")]
    from livekit_server import unavailable
    from netns import netns_argv, netns_unavailable

    why = unavailable() or netns_unavailable()
    if why:
        sys.exit(f"bench/serve_pages.py live: {why}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    argv = [sys.executable, str(Path(__file__).resolve()), "live-in-netns"] + (["--shots", str(shots.resolve())]
                                                                               if shots else [])
    sys.exit(subprocess.run(netns_argv(argv), env=env).returncode)


def live_in_netns(shots: Path | None) -> None:
    result = asyncio.run(_live(shots))
    page, delays = result["page"], result["delays"]
    print(f"conversation {result['state']}; the page showed {len(page.get('lines', []))} lines "
          f"({sum(line['cut'] for line in page.get('lines', []))} marked cut off), the recording has "
          f"{result['turns']} turns ({result['interrupted']} interrupted)")
    for line in page.get("lines", []):
        print(f"  {line['speaker']}: {line['text'][:70]}{' [cut off]' if line['cut'] else ''}")
    if delays:
        q = statistics.quantiles(delays, n=10) if len(delays) > 1 else [delays[0]] * 9
        print(f"the page's audio trails the room by {statistics.median(delays) * 1000:.0f} ms median, "
              f"{q[8] * 1000:.0f} ms p90, {min(delays) * 1000:.0f}..{max(delays) * 1000:.0f} ms "
              f"({len(delays)} speech onsets matched of {result['onsets']['page']} in the page and "
              f"{result['onsets']['room']} in the room)")
    else:
        print(f"no speech onsets matched: page {result['onsets']['page']}, room {result['onsets']['room']}")


ONSET_DBFS = -40.0  # the page's threshold (web/src/live.tsx): a 10 ms window louder than this is speech
QUIET_S = 0.3  # an onset follows at least this much quiet


def room_onsets(observer, t0_wall: float) -> dict[str, list[float]]:  # noqa: ANN001 - a transport.livekit.Observer
    """Speech onsets per role in the observer's recording, as wall-clock seconds."""
    import numpy as np

    from synthconv.transport.livekit import SAMPLE_RATE

    out: dict[str, list[float]] = {}
    win = SAMPLE_RATE // 100
    threshold = 32768 * 10 ** (ONSET_DBFS / 20)
    for role, (start, chunks) in observer.audio.items():
        pcm = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        frames = len(pcm) // win
        rms = np.sqrt(np.mean(pcm[: frames * win].reshape(frames, win) ** 2, axis=1)) if frames else np.zeros(0)
        quiet, found = QUIET_S, []
        for i, level in enumerate(rms):
            if level > threshold:
                if quiet >= QUIET_S:
                    found.append(t0_wall + (start + i * win) / SAMPLE_RATE)
                quiet = 0.0
            else:
                quiet += 0.01
        out[role] = found
    return out


async def _live(shots: Path | None) -> dict:
    from livekit_server import API_KEY, API_SECRET, LiveKitServer
    from netns import SERVER_HOST

    from synthconv.job import Job
    from synthconv.transport.livekit import Observer

    subprocess.run(["ip", "route", "add", "default", "dev", "v0"], capture_output=True)  # see tests/livekit_serve.py
    work = Path(tempfile.mkdtemp(prefix="serve-live-"))
    server = LiveKitServer(SERVER_HOST, work / "server.log")
    await server.start()
    runs = work / "runs"
    runs.mkdir()
    serve = None
    try:
        serve = Serve(runs, "--livekit-url", server.url, "--livekit-api-key", API_KEY,
                      "--livekit-api-secret", API_SECRET)
        page_result: dict = {}
        started = threading.Event()
        done = threading.Event()
        browser = threading.Thread(target=_browse, args=(serve.url, page_result, started, done, shots))
        browser.start()
        while not started.is_set():
            await asyncio.sleep(0.2)
        listing = json.loads(serve.get("/api/v1/conversations")[1])["conversations"]
        cid = listing[-1]["id"]
        status: dict = {}
        observer = None
        t0_wall = 0.0
        while True:
            status = json.loads(serve.get(f"/api/v1/conversations/{cid}/status")[1])
            if status["state"] in ("ok", "failed"):
                break
            if observer is None and status.get("conversation"):
                access = json.loads(_post(serve.url + f"/api/v1/conversations/{cid}/observer-token"))
                run = json.loads((runs / cid / "run.json").read_text())
                job = Job.from_dict(run["jobs"][0])
                observer = Observer(list(job.roles), job)
                observer.t0, t0_wall = time.monotonic(), time.time()  # one instant on both clocks
                await observer.room.connect(access["livekit_url"], access["observer_token"])
            await asyncio.sleep(0.5)
        done.set()
        browser.join(120)
        room = room_onsets(observer, t0_wall) if observer else {}
        if observer:
            await observer.close()
        page_onsets = page_result.get("onsets", [])
        delays = []
        roles = {f"{r}-{status.get('conversation')}": r for r in room}  # identity -> role (protocol.identity)
        for onset in page_onsets:
            role = roles.get(onset["identity"])
            near = [t for t in room.get(role, []) if abs(onset["at"] / 1000 - t) < 1.5]
            if near:
                delays.append(onset["at"] / 1000 - min(near, key=lambda t: abs(onset["at"] / 1000 - t)))
        return {"state": status["state"], "error": status.get("error"), "turns": len(status.get("turns", [])),
                "interrupted": sum(t["interrupted"] for t in status.get("turns", [])),
                "page": page_result, "delays": delays,
                "onsets": {"page": len(page_onsets), "room": sum(len(v) for v in room.values())}}
    finally:
        if serve is not None:
            serve.stop()
        await server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _post(url: str) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30) as r:
        return r.read().decode()


def _browse(url: str, out: dict, started: threading.Event, done: threading.Event, shots: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--autoplay-policy=no-user-gesture-required",
                                          "--disable-features=WebRtcHideLocalIpsWithMdns",
                                          "--force-webrtc-ip-handling-policy=default"])
        page = browser.new_page(viewport={"width": 1200, "height": 640})
        page.goto(url + "/")
        page.select_option("#start-scenario", "outage")
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=shots / "serve-start.png")
        page.click("#start button[type=submit]")
        page.wait_for_url("**/#/live/*")
        started.set()
        lines: list = []
        while not done.is_set():
            now = page.evaluate("""() => [...document.querySelectorAll('#live-transcript li')].map(li => ({
                speaker: li.querySelector('b')?.textContent ?? '', text: li.querySelector('.text')?.textContent ?? '',
                cut: li.dataset.cut === 'true'}))""")
            if shots and len(now) > len(lines):  # the live page at its fullest, before it becomes the player
                page.screenshot(path=shots / "serve-live.png", full_page=True)
            lines = now or lines
            out["onsets"] = page.evaluate("() => window.synthconvLive ? window.synthconvLive.onsets : []")
            time.sleep(0.5)
        out["lines"] = lines
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pages")
    p.add_argument("run", type=Path)
    p.add_argument("--players", type=int, default=5)
    a = sub.add_parser("api")
    a.add_argument("--conversations", type=int, default=20000)
    a.add_argument("--keep", type=Path, help="write the synthetic run here and leave it")
    for name in ("live", "live-in-netns"):
        sub.add_parser(name).add_argument("--shots", type=Path, help="screenshots of the form and the live page here")
    args = ap.parse_args()
    if args.what == "pages":
        pages(args.run, args.players)
    elif args.what == "api":
        api(args.conversations, args.keep)
    elif args.what == "live":
        live(args.shots)
    else:
        live_in_netns(args.shots)


if __name__ == "__main__":
    main()
