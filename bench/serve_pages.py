"""Benchmark: how long the pages of `synthconv serve` take to show a run, in Debian's Chromium.

    .venv/bin/python bench/serve_pages.py RUN [--players 5]

Serves RUN's parent folder with the real CLI, then prints, from navigation to the content
being on screen: the runs page (table shown), the run's conversations page (every row shown),
and the player for a few conversations (transcript shown, both waveforms decoded and every
turn drawn as a region), plus the API time of the conversation call (it validates the
conversation, decoding its mix). Make RUN with e.g. `synthconv generate --count 200`.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--players", type=int, default=5)
    args = ap.parse_args()
    run = args.run.resolve()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "serve", "--runs", str(run.parent),
                               "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/api/v1/runs").read()
                break
            except OSError:
                time.sleep(0.2)
        rows = json.load(urllib.request.urlopen(f"{url}/api/v1/runs/{run.name}/conversations"))["conversations"]
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
            players, apis = [], []
            for r in ok[: args.players]:
                a0 = time.perf_counter()
                urllib.request.urlopen(f"{url}/api/v1/runs/{run.name}/conversations/{r['id']}").read()
                apis.append(time.perf_counter() - a0)
                players.append(timed(f"{url}/#/runs/{run.name}/{r['id']}",
                                     f"document.querySelectorAll('#transcript li').length == {r['turns']} && "
                                     "[...document.querySelectorAll('.lane')].every(l => l.firstChild && "
                                     f"l.firstChild.shadowRoot && l.firstChild.shadowRoot.querySelectorAll("
                                     f"'[part~=region]').length > 0)"))
            print(f"player ({len(players)} conversations, {statistics.mean(r['duration_s'] for r in ok[:len(players)]):.0f} s "
                  f"mean audio): median {statistics.median(players) * 1000:.0f} ms, max {max(players) * 1000:.0f} ms; "
                  f"its API call median {statistics.median(apis) * 1000:.0f} ms")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
