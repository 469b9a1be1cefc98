"""`synthconv serve` starting a conversation in a real room: POST, status, observer token.

    python -m livekit_serve OUT      (tests/ on PYTHONPATH, inside a netns; see livekit_generate)

Starts the pinned `livekit-server --dev` on 10.200.0.1 and the real `synthconv serve` on
loopback with its LiveKit flags; POSTs one conversation, polls its status to the end, and while
it is live joins the room with the observer token the API handed out: measures the audio level
of each agent it hears and tries to publish a track and data with it; at the same time the live
page runs in Debian's Chromium (screenshot OUT.live.png). Prints one `RESULT {json}`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
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


def browse(cid: str, screenshot: Path, seconds: float = 45) -> dict:
    """The live page in Debian's Chromium: per agent the loudest level its visualizer saw, the
    agent states and transcript lines shown, until both agents were heard and 2 lines shown."""
    from playwright.sync_api import sync_playwright

    # Chromium's WebRTC finds no usable interface in a namespace without a default route, and
    # hides host candidates behind mDNS names nothing here resolves: a default route onto the
    # namespace's own veth (nothing lies beyond it) and plain host candidates
    subprocess.run(["ip", "route", "add", "default", "dev", "v0"], capture_output=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--autoplay-policy=no-user-gesture-required",
                                          "--disable-features=WebRtcHideLocalIpsWithMdns",
                                          "--force-webrtc-ip-handling-policy=default"])
        page = browser.new_page(viewport={"width": 1200, "height": 520})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.monotonic()
        page.goto(f"http://127.0.0.1:{PORT}/#/live/{cid}")
        seen: dict = {}
        while time.monotonic() - t0 < seconds:
            seen = page.evaluate("""() => ({
                peaks: Object.fromEntries([...document.querySelectorAll('.agent')].map(
                    a => [a.dataset.identity, Number(a.dataset.peak)])),
                states: [...document.querySelectorAll('.agent-state')].map(s => s.textContent),
                lines: [...document.querySelectorAll('#live-transcript li')].map(li => li.textContent),
                audio: document.querySelectorAll('audio').length})""")
            if len(seen["peaks"]) == 2 and all(v > 0 for v in seen["peaks"].values()) and len(seen["lines"]) >= 2:
                break
            time.sleep(0.5)
        page.screenshot(path=screenshot)
        browser.close()
    return {**seen, "errors": errors, "took_s": round(time.monotonic() - t0, 1)}


async def main(out: str) -> dict:
    server = LiveKitServer(SERVER_HOST, Path(f"{out}.server.log"))
    runs = Path(out)
    runs.mkdir(parents=True)
    await server.start()
    serve = None
    try:
        with open(f"{out}.serve.log", "wb") as log:
            serve = subprocess.Popen([sys.executable, "-m", "synthconv.cli", "serve", "--runs", out, "--port", str(PORT),
                                      "--livekit-url", server.url, "--livekit-api-key", API_KEY,
                                      "--livekit-api-secret", API_SECRET], stdout=log, stderr=log)
        for _ in range(150):
            try:
                if call("GET", "/api/v1/runs")[0] == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.2)
        code, text = call("POST", "/api/v1/conversations", {"scenario": "outage"})
        result: dict = {"post": code, "secret_in_response": API_SECRET in text, "states": [], "agent_states": []}
        if code != 201:
            return {**result, "error": text}
        started = json.loads(text)
        result["started"] = {k: v for k, v in started.items() if k != "observer_token"}
        t0 = time.monotonic()
        status: dict = {}
        while time.monotonic() - t0 < 300:
            status = json.loads(call("GET", started["status"])[1])
            if not result["states"] or result["states"][-1] != status["state"]:
                result["states"].append(status["state"])
            result["agent_states"] += [p["state"] for p in status.get("participants", [])]
            if status["state"] == "live" and "observed" not in result:
                second = json.loads(call("POST", f"/api/v1/conversations/{started['id']}/observer-token")[1])
                page = asyncio.ensure_future(asyncio.to_thread(browse, started["id"], Path(f"{out}.live.png")))
                result["observed"] = await observe(started["livekit_url"], started["observer_token"],
                                                   second["observer_token"])
                result["page"] = await page
            if status["state"] in ("ok", "failed"):
                break
            await asyncio.sleep(0.5)
        result["final"] = status
        return result
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(30)
        await server.stop()


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
