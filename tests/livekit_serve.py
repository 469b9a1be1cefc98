"""`synthconv serve` starting a conversation in a real room from its page: form, live page, player.

    python -m livekit_serve OUT      (tests/ on PYTHONPATH, inside a netns; see livekit_generate)

Starts the pinned `livekit-server --dev` on 10.200.0.1 and the real `synthconv serve` on
loopback with its LiveKit flags and a one-scenario library (a four-line call, to keep the test
short). Debian's Chromium fills the runs page's form and follows the live page until it becomes
the player; meanwhile this process finds the conversation in GET /api/v1/conversations, polls its
status to the end, and while it is live joins the room with observer tokens from the API:
measures the audio level of each agent it hears and tries to publish a track and data with it.
Prints one `RESULT {json}`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from livekit_server import API_KEY, API_SECRET, LiveKitServer
from netns import SERVER_HOST

PORT = 8731


def call(method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def observe(url: str, token: str, second_token: str, seconds: float = 8.0) -> dict:
    """Join as the browser would with the observer token: what it hears, and what it may do. A
    second viewer (a token from POST .../observer-token) listens for the data the first one
    sends, and for a control message from a participant allowed to send data."""
    from livekit import api, rtc

    witness, received = rtc.Room(), []
    witness.on("data_received", lambda packet: received.append(packet.data.decode(errors="replace")))
    await witness.connect(url, second_token)
    room = rtc.Room()
    levels: dict[str, float] = {}
    tasks = []

    async def listen(track: rtc.Track, who: str) -> None:
        async for ev in rtc.AudioStream.from_track(track=track, sample_rate=24000, num_channels=1):
            pcm = np.frombuffer(ev.frame.data, dtype=np.int16).astype(np.float32)
            levels[who] = max(levels.get(who, 0.0), float(np.sqrt(np.mean(pcm ** 2))) if len(pcm) else 0.0)

    room.on("track_subscribed", lambda track, pub, p: tasks.append(asyncio.ensure_future(listen(track, p.identity))))
    await room.connect(url, token)
    await asyncio.sleep(seconds)
    source = rtc.AudioSource(24000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("viewer-mic", source)
    try:
        await asyncio.wait_for(room.local_participant.publish_track(track), 10)
        publish = "published"
    except Exception as e:  # noqa: BLE001 - whatever the SDK raises, it is a refusal
        publish = f"refused: {type(e).__name__}: {e}"
    try:
        await asyncio.wait_for(room.local_participant.publish_data(b"from-the-viewer", reliable=True), 10)
    except Exception as e:  # noqa: BLE001
        received.append(f"(publish_data raised {type(e).__name__})")
    control = rtc.Room()
    grants = api.VideoGrants(room_join=True, room=room.name, hidden=True, can_publish_data=True)
    await control.connect(url, api.AccessToken(API_KEY, API_SECRET).with_identity("control")
                          .with_grants(grants).to_jwt())
    await control.local_participant.publish_data(b"control", reliable=True)
    await asyncio.sleep(3)
    me = room.local_participant.identity
    async with api.LiveKitAPI(url, API_KEY, API_SECRET) as lk:
        listed = (await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))).participants
    viewer = next((p for p in listed if p.identity == me), None)
    for r in (room, witness, control):
        await r.disconnect()
    for t in tasks:
        t.cancel()
    return {"levels": levels, "publish": publish, "data_received": received, "viewer_tracks": len(viewer.tracks) if viewer else None,
            "viewer_can_publish": viewer.permission.can_publish if viewer else None,
            "viewer_hidden": viewer.permission.hidden if viewer else None}


SHORT = """id: quick-check
title: A customer checks that a repair visit is still on
domain: customer-support
language: en
first_speaker: agent
turns: {min: 4, max: 4}
roles:
  agent:
    label: Support agent
    goal: Confirm the repair visit.
    facts: {company: [Cascade Fiber], slot: [tomorrow between 8 and 10]}
    personas: [agent-callum-fraser, agent-daniel-okafor]
  customer:
    label: Customer
    goal: Check that the repair visit is still on.
    personas: [cust-david-nguyen, cust-tom-becker]
outcome: [the customer knows the visit is still on]
script:
  - {role: agent, phase: opening, say: ["{company} support, this is {name}. How can I help?"]}
  - {role: customer, phase: problem, say: ["Hi. Is my repair visit still on? It was booked last week."]}
  - {role: agent, phase: resolution, say: ["Yes, it is still on for {slot}. The engineer will call ahead."]}
  - {role: customer, phase: closing, say: ["Great, that's all I needed. Thanks, bye."]}
"""
PERSONA = "agent-callum-fraser"  # chosen in the form for the agent; the customer is drawn

LINES_JS = """() => ({
    peaks: Object.fromEntries([...document.querySelectorAll('.agent')].map(
        a => [a.dataset.identity, Number(a.dataset.peak)])),
    states: [...document.querySelectorAll('.agent-state')].map(s => s.textContent),
    lines: [...document.querySelectorAll('#live-transcript li')].map(li => ({identity: li.dataset.identity,
        speaker: li.querySelector('b').textContent, text: li.querySelector('.text').textContent,
        cut: li.dataset.cut === 'true'})),
    audio: document.querySelectorAll('audio').length, state: document.getElementById('live-state')?.dataset.state})"""


def browse(out: Path, started: threading.Event, result: dict, seconds: float = 240) -> None:
    """Debian's Chromium from the runs page: fill the form (the short scenario, a persona for the
    agent, the customer drawn), submit, follow the live page (per agent the loudest level its
    visualizer saw, the states and lines shown) until it becomes the player. Screenshots
    OUT.form.png, OUT.live.png and OUT.player.png."""
    from playwright.sync_api import sync_playwright

    # Chromium's WebRTC finds no usable interface in a namespace without a default route, and
    # hides host candidates behind mDNS names nothing here resolves: a default route onto the
    # namespace's own veth (nothing lies beyond it) and plain host candidates
    subprocess.run(["ip", "route", "add", "default", "dev", "v0"], capture_output=True)
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--autoplay-policy=no-user-gesture-required",
                                              "--disable-features=WebRtcHideLocalIpsWithMdns",
                                              "--force-webrtc-ip-handling-policy=default"])
            page = browser.new_page(viewport={"width": 1200, "height": 640})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{PORT}/")
            page.select_option("#start-scenario", "quick-check")
            page.select_option("select[data-role=agent]", PERSONA)
            page.select_option("#start-turn-taking", "natural")
            result["form"] = {"engines": page.locator("#start-engine option").all_inner_texts(),
                              "customer": page.locator("select[data-role=customer]").input_value()}
            page.screenshot(path=f"{out}.form.png")
            with page.expect_response(lambda r: r.url.endswith("/api/v1/conversations")
                                      and r.request.method == "POST") as posted:
                page.click("#start button[type=submit]")
            result["post"] = {"status": posted.value.status, "body": posted.value.text()}
            page.wait_for_url("**/#/live/*")
            result["live_url"] = page.url
            started.set()
            t0, shot = time.monotonic(), False
            seen: dict = {"peaks": {}, "states": [], "lines": [], "audio": 0}
            while time.monotonic() - t0 < seconds and "#/live/" in page.url:
                now = page.evaluate(LINES_JS)  # the page becomes the player at the end: keep the most seen
                for who, level in now["peaks"].items():
                    seen["peaks"][who] = max(level, seen["peaks"].get(who, 0.0))
                seen["states"] += [s for s in now["states"] if s not in seen["states"]]
                seen["lines"] = now["lines"] if len(now["lines"]) >= len(seen["lines"]) else seen["lines"]
                seen["audio"] = max(seen["audio"], now["audio"])
                if not shot and len(now["lines"]) >= 2 and all(v > 0 for v in now["peaks"].values()):
                    page.screenshot(path=f"{out}.live.png")
                    shot = True
                time.sleep(0.3)
            result["page"] = seen
            result["landed"] = page.url
            if "#/runs/" in page.url:
                page.wait_for_selector("#transcript li", timeout=30000)
                result["player_turns"] = page.locator("#transcript li").count()
                page.screenshot(path=f"{out}.player.png")
            browser.close()
    finally:
        result["errors"] = errors
        started.set()


async def agents_started(call, cid: str, status: dict, seen: list) -> dict:  # noqa: ANN001
    """Poll a live conversation's status until an agent shows its state (up to 10 s), adding the
    states to `seen`: the agents set lk.agent.state once their sessions start, maybe after the
    conversation went live, and observing it can take the rest of the call."""
    for _ in range(40):
        if any(p["state"] for p in status.get("participants", [])):
            break
        await asyncio.sleep(0.25)
        status = json.loads(call("GET", f"/api/v1/conversations/{cid}/status")[1])
        seen += [p["state"] for p in status.get("participants", [])]
    return status


async def main(out: str) -> dict:
    server = LiveKitServer(SERVER_HOST, Path(f"{out}.server.log"))
    runs = Path(out)
    runs.mkdir(parents=True)
    scenarios = Path(f"{out}.scenarios")
    scenarios.mkdir()
    (scenarios / "quick-check.yaml").write_text(SHORT)
    await server.start()
    serve = None
    try:
        with open(f"{out}.serve.log", "wb") as log:
            serve = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "serve", "--runs", out, "--port", str(PORT),
                                      "--scenarios-dir", str(scenarios), "--livekit-url", server.url,
                                      "--livekit-api-key", API_KEY, "--livekit-api-secret", API_SECRET],
                                     stdout=log, stderr=log)
        for _ in range(150):
            try:
                if call("GET", "/api/v1/runs")[0] == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.2)
        page: dict = {}
        started_event = threading.Event()
        browser = threading.Thread(target=browse, args=(Path(out), started_event, page))
        browser.start()
        while not started_event.is_set():
            await asyncio.sleep(0.2)
        result: dict = {"states": [], "agent_states": [], "page": page}
        listed = json.loads(call("GET", "/api/v1/conversations")[1])["conversations"]
        if not listed:
            browser.join(30)
            return {**result, "error": "no conversation was started", "listed": listed}
        result["listed"] = listed
        cid = listed[0]["id"]
        t0 = time.monotonic()
        status: dict = {}
        while time.monotonic() - t0 < 300:
            status = json.loads(call("GET", f"/api/v1/conversations/{cid}/status")[1])
            if not result["states"] or result["states"][-1] != status["state"]:
                result["states"].append(status["state"])
            result["agent_states"] += [p["state"] for p in status.get("participants", [])]
            if status["state"] == "live" and "observed" not in result:
                status = await agents_started(call, cid, status, result["agent_states"])
                first = json.loads(call("POST", f"/api/v1/conversations/{cid}/observer-token")[1])
                second = json.loads(call("POST", f"/api/v1/conversations/{cid}/observer-token")[1])
                result["observed"] = await observe(first["livekit_url"], first["observer_token"],
                                                   second["observer_token"])
            if status["state"] in ("ok", "failed"):
                break
            await asyncio.sleep(0.5)
        result["final"] = status
        result["run"] = json.loads((runs / cid / "run.json").read_text()) if (runs / cid / "run.json").is_file() else None
        await asyncio.to_thread(browser.join, 120)
        return result
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(30)
        await server.stop()


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
