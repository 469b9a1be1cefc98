"""Scenarios run against a LoopbackServer inside a network namespace.

    python -m livekit_loopback.netns -- python -m livekit_loopback.scenarios audio
    (tests/ on PYTHONPATH; or from a test: netns.run_module_in_netns("livekit_loopback.scenarios", "audio", ...))

Each scenario starts the server on 10.200.0.1, runs real `livekit.rtc` rooms (and livekit-agents
workers) against it, stops everything, prints one `RESULT {json}` line and exits 0, or prints the
failure and exits 1. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import threading
import time
import traceback

import numpy as np
from livekit import api, rtc

from .netns import SERVER_HOST
from .server import LoopbackServer

API_KEY = "devkey"
API_SECRET = "loopback-secret-loopback-secret-0123"
AGENT_NAME = "loopback-agent"
SAMPLE_RATE = 48000

log = logging.getLogger("livekit_loopback.scenarios")


def token(identity: str, room: str, *, secret: str = API_SECRET, **grants: object) -> str:
    return (api.AccessToken(API_KEY, secret).with_identity(identity).with_name(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room, **grants)).to_jwt())


async def wait_until(pred, timeout: float, what: str, step: float = 0.05) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(step)


async def feed_sine(source: rtc.AudioSource, freq: float, seconds: float, room: rtc.Room | None = None) -> None:
    """Push a sine in 10 ms frames, paced to real time (until `room` disconnects, if given)."""
    n = SAMPLE_RATE // 100
    t0 = time.monotonic()
    for i in range(int(seconds * 100)):
        if room is not None and not room.isconnected():
            return
        t = (np.arange(n) + i * n) / SAMPLE_RATE
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        frame = rtc.AudioFrame(pcm.tobytes(), SAMPLE_RATE, 1, n)
        await source.capture_frame(frame)
        ahead = t0 + (i + 1) / 100 - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


def peak_hz(samples: np.ndarray) -> float:
    x = samples.astype(np.float64) * np.hanning(len(samples))
    spec = np.abs(np.fft.rfft(x))
    k = int(np.argmax(spec[1:])) + 1
    return k * SAMPLE_RATE / len(samples)


def pitch(samples: np.ndarray, window_s: float = 0.5) -> float:
    """Median of the spectral peaks of consecutive windows: one glitchy window (a jitter-buffer
    underrun while the machine is busy) cannot move it."""
    n = int(window_s * SAMPLE_RATE)
    peaks = [peak_hz(samples[i:i + n]) for i in range(0, len(samples) - n + 1, n)] or [peak_hz(samples)]
    return float(np.median(peaks))


async def record(track: rtc.Track, seconds: float, timeout: float, skip: float = 0.5) -> np.ndarray:
    """`seconds` of audio from the track, from `skip` s after its first non-silent frame (the
    start of a stream is where the receiver's jitter buffer settles)."""
    stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1)
    chunks: list[np.ndarray] = []
    need = int((seconds + skip) * SAMPLE_RATE)

    async def collect() -> None:
        got = 0
        async for ev in stream:
            pcm = np.frombuffer(ev.frame.data, dtype=np.int16)
            if not chunks and np.abs(pcm).max() < 1000:
                continue
            chunks.append(pcm.copy())
            got += len(pcm)
            if got >= need:
                return

    try:
        await asyncio.wait_for(collect(), timeout)
    finally:
        await stream.aclose()
    return np.concatenate(chunks)[int(skip * SAMPLE_RATE):need]


# ------------------------------------------------------------------------------------ scenarios

async def scenario_audio(server: LoopbackServer) -> dict:
    """A publishes a 440 Hz sine; B subscribes and measures its pitch."""
    room_name = "audio-room"
    a, b = rtc.Room(), rtc.Room()
    subscribed: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and not subscribed.done():
            subscribed.set_result((track, p.identity, pub.sid))

    b.on("track_subscribed", on_track)
    feeder = None
    try:
        await a.connect(server.url, token("alice", room_name))
        await b.connect(server.url, token("bob", room_name))
        source = rtc.AudioSource(SAMPLE_RATE, 1)
        local = rtc.LocalAudioTrack.create_audio_track("sine", source)
        pub = await a.local_participant.publish_track(
            local, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        feeder = asyncio.create_task(feed_sine(source, 440.0, seconds=20))
        track, who, sid = await asyncio.wait_for(subscribed, 20)
        assert who == "alice", who
        assert sid == pub.sid, (sid, pub.sid)
        samples = await record(track, 1.5, timeout=20)
        f = pitch(samples)
        rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
        assert abs(f - 440.0) < 5.0, f"pitch {f:.1f} Hz"
        assert rms > 1000, f"rms {rms:.0f}"
        unpublished: list[str] = []
        b.on("track_unpublished", lambda pub, p: unpublished.append(pub.sid))
        await a.local_participant.unpublish_track(local.sid)
        await wait_until(lambda: unpublished == [sid], 10, "bob to see the track unpublished")
        assert not server.rooms[room_name].participants["alice"].tracks
        assert not server.rooms[room_name].participants["bob"].subscriptions
        return {"pitch_hz": round(f, 1), "rms": round(rms), "track_sid": sid}
    finally:
        if feeder is not None:
            feeder.cancel()
        await a.disconnect()
        await b.disconnect()


async def scenario_data(server: LoopbackServer) -> dict:
    """Text streams, data packets (destinations, lossy), attributes, and RoomService.SendData."""
    room_name = "data-room"
    a, b, c = rtc.Room(), rtc.Room(), rtc.Room()
    texts: list[tuple[str, str]] = []
    packets: dict[str, list[tuple[bytes, str | None, str]]] = {"bob": [], "carol": []}
    attrs: list[dict] = []
    tasks = set()

    def on_text(reader: rtc.TextStreamReader, identity: str) -> None:
        async def read() -> None:
            texts.append((identity, await reader.read_all()))
        t = asyncio.create_task(read())
        tasks.add(t)

    def on_data(who: str):  # noqa: ANN202
        def handler(pkt: rtc.DataPacket) -> None:
            packets[who].append((pkt.data, pkt.participant.identity if pkt.participant else None, pkt.topic or ""))
        return handler

    b.register_text_stream_handler("chat", on_text)
    b.on("data_received", on_data("bob"))
    c.on("data_received", on_data("carol"))
    b.on("participant_attributes_changed", lambda changed, p: attrs.append({"who": p.identity, **changed}))
    try:
        await a.connect(server.url, token("alice", room_name, can_update_own_metadata=True))
        await b.connect(server.url, token("bob", room_name))
        await c.connect(server.url, token("carol", room_name))
        await wait_until(lambda: {"alice", "carol"} <= set(b.remote_participants), 10, "bob to see everyone")
        await wait_until(lambda: {"alice", "bob"} <= set(c.remote_participants), 10, "carol to see everyone")

        await a.local_participant.send_text("hello bob", topic="chat")
        await a.local_participant.publish_data(b"to-bob", destination_identities=["bob"], topic="t")
        await a.local_participant.publish_data(b"to-carol", destination_identities=["carol"], topic="t")
        await asyncio.wait_for(a.local_participant.set_attributes({"mood": "happy"}), 10)
        await wait_until(lambda: texts, 15, "bob to receive the text stream")
        await wait_until(lambda: len(packets["bob"]) >= 1 and len(packets["carol"]) >= 1, 15, "data packets")
        await wait_until(lambda: attrs, 10, "bob to see alice's attributes")
        for _ in range(20):  # lossy: retry a few times, it is not guaranteed
            await a.local_participant.publish_data(b"lossy", reliable=False, topic="l")
            await asyncio.sleep(0.05)
            if any(p[0] == b"lossy" for p in packets["bob"]):
                break
        async with api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret=API_SECRET) as lk:
            await lk.room.send_data(api.SendDataRequest(room=room_name, data=b"from-server", kind=0,
                                                        destination_identities=["bob"], topic="srv"))
        await wait_until(lambda: any(p[0] == b"from-server" for p in packets["bob"]), 10, "server data")
        await asyncio.sleep(0.3)  # anything misrouted would arrive by now

        assert texts == [("alice", "hello bob")], texts
        bob_data = [p for p in packets["bob"] if p[0] != b"lossy"]
        assert bob_data == [(b"to-bob", "alice", "t"), (b"from-server", None, "srv")], bob_data
        carol_data = [p for p in packets["carol"] if p[0] != b"lossy"]
        assert carol_data == [(b"to-carol", "alice", "t")], packets["carol"]
        assert {"who": "alice", "mood": "happy"} in attrs, attrs
        assert b.remote_participants["alice"].attributes.get("mood") == "happy"
        return {"texts": len(texts), "bob_packets": len(packets["bob"]),
                "lossy_received": any(p[0] == b"lossy" for p in packets["bob"])}
    finally:
        for r in (a, b, c):
            await r.disconnect()


async def scenario_agents(server: ServerProcess) -> dict:
    """A real AgentServer registers; two explicit dispatches (plus one silently dropped) to one
    room. Both jobs join as AGENT participants and see their metadata; agent "a" publishes a
    440 Hz tone that agent "b" and a hidden observer both hear."""
    from livekit.agents import AgentServer, JobContext, JobExecutorType, JobRequest

    room_name = "agents-room"
    loop = asyncio.get_running_loop()
    seen: asyncio.Queue = asyncio.Queue()
    requests: list[str] = []

    async def on_request(req: JobRequest) -> None:
        role = json.loads(req.job.metadata)["role"]
        requests.append(role)
        if role == "b" and requests.count("b") == 1:
            await req.reject(terminate=False)  # the server must offer it again
            return
        await req.accept(identity=f"agent-{role}", name=f"Agent {role.upper()}", attributes={"role": role})

    async def entry(ctx: JobContext) -> None:  # runs in a job thread with its own event loop
        role = json.loads(ctx.job.metadata)["role"]
        heard: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
            if track.kind == rtc.TrackKind.KIND_AUDIO and not heard.done():
                heard.set_result(track)

        ctx.room.on("track_subscribed", on_track)
        await ctx.connect()
        lp = ctx.room.local_participant
        source = None
        if role == "a":
            source = rtc.AudioSource(SAMPLE_RATE, 1)
            await lp.publish_track(rtc.LocalAudioTrack.create_audio_track("tone", source),
                                   rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        await lp.set_attributes({"seen_metadata": ctx.job.metadata})
        loop.call_soon_threadsafe(seen.put_nowait, {
            "metadata": ctx.job.metadata, "identity": lp.identity, "kind": int(lp.kind),
            "thread": threading.current_thread().name, "room": ctx.room.name})
        if source is not None:
            await feed_sine(source, 440.0, seconds=40, room=ctx.room)  # the room is deleted well before
        elif role == "b":
            track = await asyncio.wait_for(heard, 30)
            samples = await record(track, 1.5, timeout=20)
            await lp.set_attributes({"heard_pitch": f"{pitch(samples):.1f}",
                                     "sees": ",".join(sorted(ctx.room.remote_participants))})

    worker = AgentServer(ws_url=server.url, api_key=API_KEY, api_secret=API_SECRET,
                         job_executor_type=JobExecutorType.THREAD, load_threshold=math.inf, port=0)
    worker.rtc_session(entry, agent_name=AGENT_NAME, on_request=on_request)
    run_task = asyncio.create_task(worker.run())
    observer = rtc.Room()
    observer_tracks: dict[str, rtc.Track] = {}
    observer.on("track_subscribed", lambda track, pub, p: observer_tracks.setdefault(p.identity, track))
    try:
        for _ in range(150):
            state = await server.hook("state")
            if run_task.done() or any(w["agent_name"] == AGENT_NAME for w in state["workers"].values()):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("timed out waiting for the worker to register")
        assert not run_task.done(), run_task
        await observer.connect(server.url, token("observer", room_name, hidden=True, can_publish=False,
                                                 can_publish_data=False))
        async with api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret=API_SECRET) as lk:
            await server.hook("drop_next_dispatches?n=1", "POST")
            dropped = await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name=AGENT_NAME, room=room_name, metadata=json.dumps({"role": "dropped"})))
            for role in ("a", "b"):
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=AGENT_NAME, room=room_name, metadata=json.dumps({"role": role})))
            jobs = [await asyncio.wait_for(seen.get(), 45) for _ in range(2)]
            roles = sorted(json.loads(j["metadata"])["role"] for j in jobs)
            assert roles == ["a", "b"], jobs
            assert all(j["kind"] == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT for j in jobs), jobs
            assert all(j["room"] == room_name for j in jobs), jobs

            def agents_visible() -> bool:
                ps = observer.remote_participants.values()
                return sum(1 for p in ps if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
                           and p.attributes.get("seen_metadata")) == 2
            await wait_until(agents_visible, 15, "the observer to see both agents with their attributes")
            by_identity = {p.identity: json.loads(p.attributes["seen_metadata"])["role"]
                           for p in observer.remote_participants.values()}
            assert sorted(by_identity.values()) == ["a", "b"], by_identity
            assert sorted(by_identity) == sorted(j["identity"] for j in jobs), (by_identity, jobs)
            # identities, names and attributes come from the worker's AvailabilityResponse
            assert by_identity == {"agent-a": "a", "agent-b": "b"}, by_identity
            assert observer.remote_participants["agent-a"].name == "Agent A"
            assert observer.remote_participants["agent-b"].attributes.get("role") == "b"
            assert requests.count("b") == 2, requests  # declined once, offered again
            speaker, listener = "agent-a", "agent-b"

            await wait_until(lambda: speaker in observer_tracks, 20, "the observer to subscribe to agent a")
            observer_pitch = pitch(await record(observer_tracks[speaker], 1.5, timeout=20))
            assert abs(observer_pitch - 440.0) < 5.0, f"observer heard {observer_pitch:.1f} Hz"
            await wait_until(lambda: "heard_pitch" in observer.remote_participants[listener].attributes, 30,
                             "agent b to report what it heard")
            agent_pitch = float(observer.remote_participants[listener].attributes["heard_pitch"])
            assert abs(agent_pitch - 440.0) < 5.0, f"agent b heard {agent_pitch:.1f} Hz"
            sees = observer.remote_participants[listener].attributes["sees"]
            assert sees == "agent-a", f"agent b sees {sees!r}: the hidden observer must stay hidden"

            dispatches = await lk.agent_dispatch.list_dispatch(room_name)
            assert len(dispatches) == 3, dispatches
            by_id = {d.id: d for d in dispatches}
            assert len(by_id[dropped.id].state.jobs) == 0, by_id[dropped.id]
            assert all(len(d.state.jobs) == 1 for i, d in by_id.items() if i != dropped.id), dispatches
            assert seen.empty(), "the dropped dispatch was assigned after all"
            await lk.agent_dispatch.delete_dispatch(dropped.id, room_name)
            assert len(await lk.agent_dispatch.list_dispatch(room_name)) == 2

            participants = (await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))).participants
            assert len(participants) == 3, participants  # two agents and the hidden observer

            # a token's roomConfig.agents dispatches when its holder creates the room by joining
            cfg_token = (api.AccessToken(API_KEY, API_SECRET).with_identity("carrier")
                         .with_grants(api.VideoGrants(room_join=True, room="cfg-room"))
                         .with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(
                             agent_name=AGENT_NAME, metadata=json.dumps({"role": "cfg"}))])).to_jwt())
            carrier = rtc.Room()
            await carrier.connect(server.url, cfg_token)
            cfg_job = await asyncio.wait_for(seen.get(), 30)
            await carrier.disconnect()
            assert cfg_job["room"] == "cfg-room" and cfg_job["identity"] == "agent-cfg", cfg_job

            await lk.room.delete_room(api.DeleteRoomRequest(room="cfg-room"))
            await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
        await wait_until(lambda: not worker.active_jobs, 20, "the jobs to end after DeleteRoom")
        return {"jobs": jobs, "dispatches": len(dispatches), "observer_pitch_hz": round(observer_pitch, 1),
                "agent_pitch_hz": agent_pitch}
    finally:
        await observer.disconnect()
        await asyncio.wait_for(worker.aclose(), 30)
        run_task.cancel()
        await asyncio.gather(run_task, return_exceptions=True)


async def scenario_delete_room(server: LoopbackServer) -> dict:
    """RoomService: create/list/participants/remove/delete; DeleteRoom disconnects everyone;
    max_participants; a duplicate identity replaces the older session; departure_timeout."""
    room_name = "delete-room"
    rooms = {n: rtc.Room() for n in ("alice", "bob", "carol", "dave", "bob-again")}
    reasons: dict[str, int] = {}
    left: list[str] = []
    for name, r in rooms.items():
        r.on("disconnected", lambda reason, name=name: reasons.setdefault(name, reason))
    rooms["alice"].on("participant_disconnected", lambda p: left.append(p.identity))
    try:
        async with api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret=API_SECRET) as lk:
            created = await lk.room.create_room(api.CreateRoomRequest(name=room_name, empty_timeout=30,
                                                                      max_participants=3))
            assert created.name == room_name and created.sid
            for name in ("alice", "bob", "carol"):
                await rooms[name].connect(server.url, token(name, room_name))
            listed = await lk.room.list_rooms(api.ListRoomsRequest())
            assert [x.name for x in listed.rooms] == [room_name], listed
            ps = (await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))).participants
            assert sorted(p.identity for p in ps) == ["alice", "bob", "carol"], ps

            full_error = None
            try:  # a fourth participant does not fit
                await rooms["dave"].connect(server.url, token("dave", room_name), rtc.RoomOptions(connect_timeout=5))
            except rtc.ConnectError as e:
                full_error = str(e)
            assert full_error is not None, "joined a full room"

            # the same identity again replaces the older session
            await rooms["bob-again"].connect(server.url, token("bob", room_name))
            await wait_until(lambda: "bob" in reasons, 10, "the first bob to be replaced")
            assert reasons["bob"] == rtc.DisconnectReason.DUPLICATE_IDENTITY, reasons

            await lk.room.remove_participant(api.RoomParticipantIdentity(room=room_name, identity="carol"))
            await wait_until(lambda: "carol" in reasons and "carol" in left, 10, "carol to be removed")
            assert reasons["carol"] == rtc.DisconnectReason.PARTICIPANT_REMOVED, reasons

            await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
            await wait_until(lambda: {"alice", "bob-again"} <= set(reasons), 10, "DeleteRoom to disconnect everyone")
            assert reasons["alice"] == reasons["bob-again"] == rtc.DisconnectReason.ROOM_DELETED, reasons
            assert not rooms["alice"].isconnected() and not rooms["bob-again"].isconnected()
            assert (await lk.room.list_rooms(api.ListRoomsRequest())).rooms == []
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
                raise AssertionError("deleting a missing room succeeded")
            except api.TwirpError as e:
                assert e.status == 404 and e.code == "not_found", e

            # a room closes departure_timeout after its last participant left
            await lk.room.create_room(api.CreateRoomRequest(name="short-room", departure_timeout=1))
            short = rtc.Room()
            await short.connect(server.url, token("erin", "short-room"))
            await short.disconnect()
            await wait_until(lambda: "short-room" not in server.rooms, 10, "short-room to close by itself")
        return {"reasons": {k: rtc.DisconnectReason.Name(v) for k, v in reasons.items()},
                "full_error": full_error[:160]}
    finally:
        for r in rooms.values():
            await r.disconnect()


async def scenario_worker_protocol(server: LoopbackServer) -> dict:
    """The agent worker protocol spoken by hand (no WebRTC): a bad token, register, ping, an
    automatic dispatch for a worker without an agent name, a declined explicit dispatch with
    `terminate`, an accepted one, JobTermination when its room is deleted."""
    import aiohttp
    from livekit.protocol import agent as pagent

    wtoken = api.AccessToken(API_KEY, API_SECRET).with_grants(api.VideoGrants(agent=True)).to_jwt()

    async def recv(ws: aiohttp.ClientWebSocketResponse) -> pagent.ServerMessage:
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        return pagent.ServerMessage.FromString(msg.data)

    async def send(ws: aiohttp.ClientWebSocketResponse, **fields: object) -> None:
        await ws.send_bytes(pagent.WorkerMessage(**fields).SerializeToString())

    async with aiohttp.ClientSession() as http, \
            api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret=API_SECRET) as lk:
        try:
            await http.ws_connect(f"{server.url}/agent", headers={"Authorization": "Bearer junk"})
            raise AssertionError("a worker connected with a bad token")
        except aiohttp.WSServerHandshakeError as e:
            assert e.status == 401, e

        auto = await http.ws_connect(f"{server.url}/agent", headers={"Authorization": f"Bearer {wtoken}"})
        named = await http.ws_connect(f"{server.url}/agent", headers={"Authorization": f"Bearer {wtoken}"})
        try:
            await send(auto, register=pagent.RegisterWorkerRequest(type=pagent.JT_ROOM, agent_name=""))
            reg = await recv(auto)
            assert reg.WhichOneof("message") == "register" and reg.register.worker_id.startswith("AW_"), reg
            await send(named, register=pagent.RegisterWorkerRequest(type=pagent.JT_ROOM, agent_name="named"))
            assert (await recv(named)).WhichOneof("message") == "register"
            await send(auto, ping=pagent.WorkerPing(timestamp=1234))
            pong = await recv(auto)
            assert pong.pong.last_timestamp == 1234, pong

            # a new room gets an automatic dispatch for the worker without an agent name
            await lk.room.create_room(api.CreateRoomRequest(name="auto-room"))
            offer = await recv(auto)
            assert offer.availability.job.room.name == "auto-room", offer
            await send(auto, availability=pagent.AvailabilityResponse(job_id=offer.availability.job.id,
                                                                       available=False, terminate=True))

            # explicit dispatch: declined with terminate -> never offered again
            await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name="named", room="auto-room", metadata="m1"))
            offer = await recv(named)
            assert offer.availability.job.metadata == "m1", offer
            await send(named, availability=pagent.AvailabilityResponse(job_id=offer.availability.job.id,
                                                                       available=False, terminate=True))
            await asyncio.sleep(1.5)
            d1 = [d for d in await lk.agent_dispatch.list_dispatch("auto-room") if d.metadata == "m1"][0]
            assert d1.state.jobs[0].state.status == pagent.JS_FAILED, d1

            # accepted: the assignment carries an agent token for that room
            await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name="named", room="auto-room", metadata="m2"))
            offer = await recv(named)
            job_id = offer.availability.job.id
            await send(named, availability=pagent.AvailabilityResponse(job_id=job_id, available=True,
                                                                       participant_identity="bot-1"))
            assign = await recv(named)
            assert assign.assignment.job.id == job_id and assign.assignment.url == server.url, assign
            claims = api.TokenVerifier(API_KEY, API_SECRET).verify(assign.assignment.token)
            assert claims.identity == "bot-1" and claims.kind == "agent", claims
            assert claims.video.agent and claims.video.room_join and claims.video.room == "auto-room", claims
            await send(named, update_job=pagent.UpdateJobStatus(job_id=job_id, status=pagent.JS_RUNNING))

            await lk.room.delete_room(api.DeleteRoomRequest(room="auto-room"))
            term = await recv(named)
            assert term.termination.job_id == job_id, term
        finally:
            await auto.close()
            await named.close()
        await wait_until(lambda: not server.workers, 5, "the workers to unregister")
    return {"worker_id": reg.register.worker_id}


async def scenario_permissions(server: LoopbackServer) -> dict:
    """Grants: canPublish=false cannot publish, canSubscribe=false gets no media, a hidden
    participant is invisible to others yet hears them, metadata updates need their grant."""
    room_name = "perm-room"
    names = ("speaker", "listener", "deaf", "viewer", "ghost")
    rooms = {n: rtc.Room() for n in names}
    got: dict[str, list[str]] = {n: [] for n in names}
    for n, r in rooms.items():
        r.on("track_subscribed", lambda track, pub, p, n=n: got[n].append(p.identity))
    grants = {"speaker": {}, "listener": {}, "deaf": {"can_subscribe": False},
              "viewer": {"can_publish": False}, "ghost": {"hidden": True, "can_publish": False}}
    feeder = None
    try:
        for n in names:
            await rooms[n].connect(server.url, token(n, room_name, **grants[n]))
        source = rtc.AudioSource(SAMPLE_RATE, 1)
        await rooms["speaker"].local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("tone", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        feeder = asyncio.create_task(feed_sine(source, 440.0, seconds=30))
        await wait_until(lambda: got["listener"] and got["ghost"], 20, "listener and ghost to subscribe")

        viewer_error = None
        try:
            await asyncio.wait_for(rooms["viewer"].local_participant.publish_track(
                rtc.LocalAudioTrack.create_audio_track("nope", rtc.AudioSource(SAMPLE_RATE, 1)),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)), 15)
        except Exception as e:  # noqa: BLE001 - refused or never acknowledged: both mean "not published"
            viewer_error = f"{type(e).__name__}: {e}"
        assert viewer_error is not None, "a participant without canPublish published a track"

        # without canUpdateOwnMetadata the server answers NOT_ALLOWED (the SDK does not raise) and
        # nobody sees the change
        meta_error = "none raised"
        try:
            await asyncio.wait_for(rooms["listener"].local_participant.set_attributes({"x": "y"}), 10)
        except Exception as e:  # noqa: BLE001
            meta_error = f"{type(e).__name__}: {e}"

        await asyncio.sleep(1.0)
        ghost_pitch = pitch(await record(next(
            pub.track for pub in rooms["ghost"].remote_participants["speaker"].track_publications.values()), 1.5, 20))
        assert abs(ghost_pitch - 440.0) < 5.0, ghost_pitch
        assert "x" not in rooms["speaker"].remote_participants["listener"].attributes
        assert "x" not in server.rooms[room_name].participants["listener"].attributes
        assert got["deaf"] == [], got
        assert got["speaker"] == [] and got["viewer"] == ["speaker"], got
        for n in ("speaker", "listener", "deaf", "viewer"):
            assert "ghost" not in rooms[n].remote_participants, (n, list(rooms[n].remote_participants))
        assert "ghost" in {p.identity for p in server.rooms[room_name].participants.values()}
        assert not server.rooms[room_name].participants["viewer"].tracks
        deaf_pubs = rooms["deaf"].remote_participants["speaker"].track_publications
        assert len(deaf_pubs) == 1, deaf_pubs  # it knows the track, it just gets no media
        return {"viewer_error": viewer_error[:160], "meta_error": meta_error[:160], "ghost_pitch_hz": ghost_pitch}
    finally:
        if feeder is not None:
            feeder.cancel()
        for r in rooms.values():
            await r.disconnect()


async def scenario_auth(server: LoopbackServer) -> dict:
    """Bad tokens: Twirp answers 401 JSON; /rtc refuses the connection (401 on /rtc/validate)."""
    async with api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret="wrong-secret-wrong-secret-wrong-secret") as lk:
        try:
            await lk.room.list_rooms(api.ListRoomsRequest())
            raise AssertionError("a token signed with the wrong secret was accepted")
        except api.TwirpError as e:
            assert e.status == 401 and e.code == "unauthenticated", e
    async with api.LiveKitAPI(url=server.http_url, api_key=API_KEY, api_secret=API_SECRET) as lk:
        try:  # a valid token without the roomList grant
            lk.room._token = token("x", "r")  # sent verbatim
            await lk.room.list_rooms(api.ListRoomsRequest())
            raise AssertionError("ListRooms without the grant succeeded")
        except api.TwirpError as e:
            assert e.status == 403 and e.code == "permission_denied", e
    # Twirp with JSON bodies, as curl or other clients send them
    import aiohttp

    admin = api.AccessToken(API_KEY, API_SECRET).with_grants(api.VideoGrants(room_create=True, room_list=True)).to_jwt()
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        url = f"{server.http_url}/twirp/livekit.RoomService"
        async with http.post(f"{url}/CreateRoom", data=json.dumps({"name": "json-room"}), headers=headers) as r:
            assert r.status == 200 and (await r.json())["name"] == "json-room", (r.status, await r.text())
        async with http.post(f"{url}/ListRooms", data="{}", headers=headers) as r:
            assert [x["name"] for x in (await r.json())["rooms"]] == ["json-room"]
        async with http.post(f"{url}/DeleteRoom", data=json.dumps({"room": "nope"}), headers=headers) as r:
            assert r.status == 404 and (await r.json())["code"] == "not_found"
        async with http.post(f"{url}/Nope", data="{}", headers=headers) as r:
            assert r.status == 404 and (await r.json())["code"] == "bad_route"
        async with http.get(f"{server.http_url}/rtc/validate", headers={"Authorization": "Bearer junk"}) as r:
            assert r.status == 401
        async with http.get(f"{server.http_url}/rtc/validate",
                            headers={"Authorization": f"Bearer {token('v', 'r')}"}) as r:
            assert r.status == 200
    room = rtc.Room()
    try:
        await room.connect(server.url, token("mallory", "auth-room", secret="wrong-secret-wrong-secret-wrong-secret"),
                           rtc.RoomOptions(connect_timeout=5))
        raise AssertionError("connected with a bad token")
    except rtc.ConnectError as e:
        message = str(e)
    finally:
        await room.disconnect()
    assert "auth-room" not in server.rooms or not server.rooms["auth-room"].participants
    return {"connect_error": message[:200]}


class ServerProcess:
    """`python -m livekit_loopback.server` as its own process, as `generate` runs it: media relay
    in a process of its own, not competing for this one's GIL. Test hooks over HTTP."""

    def __init__(self, port: int, stderr: int | None = None) -> None:
        self.url, self.http_url = f"ws://{SERVER_HOST}:{port}", f"http://{SERVER_HOST}:{port}"
        self.port, self.stderr = port, stderr  # where its log goes (default: ours)
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> "ServerProcess":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livekit_loopback.server", "--host", SERVER_HOST, "--port", str(self.port),
            "--api-key", API_KEY, "--api-secret", API_SECRET, stdout=asyncio.subprocess.PIPE, stderr=self.stderr)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        assert line.decode().strip() == f"READY {self.url}", line
        return self

    async def hook(self, path: str, method: str = "GET") -> dict:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.http_url}/loopback/{path}") as r:
                return await r.json()

    async def stop(self) -> int:
        """SIGTERM; the exit code."""
        if self.proc.returncode is None:
            self.proc.terminate()
        return await asyncio.wait_for(self.proc.wait(), 20)

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def scenario_server_process(server: ServerProcess) -> dict:
    """The server as its own process (`python -m livekit_loopback.server`), as a test of the
    synthconv CLI would run it; its HTTP test hooks; SIGTERM stops it."""
    a, b = rtc.Room(), rtc.Room()
    try:
        got: list[bytes] = []
        b.on("data_received", lambda pkt: got.append(pkt.data))
        await a.connect(server.url, token("alice", "proc-room"))
        await b.connect(server.url, token("bob", "proc-room"))
        await a.local_participant.publish_data(b"hi")
        await wait_until(lambda: got == [b"hi"], 10, "data through the server process")
        assert (await server.hook("drop_next_dispatches?n=2", "POST"))["drop_next_dispatches"] == 2
        state = await server.hook("state")
        assert sorted(state["rooms"]["proc-room"]["participants"]) == ["alice", "bob"], state
        await a.disconnect()
        await b.disconnect()
        code = await server.stop()
        assert code == 0, code
        return {"participants": sorted(state["rooms"]["proc-room"]["participants"]), "exit": code}
    finally:
        await a.disconnect()
        await b.disconnect()


async def scenario_observer(server: ServerProcess) -> dict:
    """The recording path: a hidden observer is in the room first; two publishers then join and
    publish a few ms apart, as two dispatched agents do. The observer must hear both tones, each
    at its pitch. Repeated over SCENARIO_ROUNDS rooms (default 3), every other one with the
    observer joining last: the races this guards against showed only sometimes."""
    rounds = int(os.environ.get("SCENARIO_ROUNDS", "3"))
    results = [await _observe_two(server.url, f"observer-room-{r}", late=r % 2 == 1) for r in range(rounds)]
    bad = [h for h in results if not (isinstance(h["alice"], float) and abs(h["alice"] - 440) < 5
                                      and isinstance(h["bob"], float) and abs(h["bob"] - 660) < 5)]
    assert not bad, f"{len(bad)}/{rounds} rounds wrong: {results}"
    return {"rounds": results}


async def _observe_two(url: str, room_name: str, late: bool) -> dict:
    obs, a, b = rtc.Room(), rtc.Room(), rtc.Room()
    tracks: dict[str, rtc.Track] = {}
    obs.on("track_subscribed", lambda t, pub, p: tracks.setdefault(p.identity, t))
    feeders: list[asyncio.Task] = []

    async def publish(room: rtc.Room, freq: float) -> None:
        source = rtc.AudioSource(SAMPLE_RATE, 1)
        local = rtc.LocalAudioTrack.create_audio_track("sine", source)
        await room.local_participant.publish_track(
            local, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        feeders.append(asyncio.create_task(feed_sine(source, freq, seconds=30)))

    try:
        join_observer = obs.connect(url, token("observer", room_name, hidden=True, can_publish=False,
                                               can_publish_data=False))
        if not late:
            await join_observer
        await asyncio.gather(a.connect(url, token("alice", room_name)), b.connect(url, token("bob", room_name)))
        await asyncio.gather(publish(a, 440.0), publish(b, 660.0))
        if late:  # its first subscriber offer carries both tracks and the data channels at once
            await join_observer
        await wait_until(lambda: len(tracks) == 2, 20, "the observer to subscribe to both tracks")
        got = await asyncio.gather(record(tracks["alice"], 2, timeout=20), record(tracks["bob"], 2, timeout=20),
                                   return_exceptions=True)
        return {who: round(pitch(x), 1) if isinstance(x, np.ndarray) else repr(x)
                for who, x in zip(("alice", "bob"), got)}
    finally:
        for f in feeders:
            f.cancel()
        await asyncio.gather(obs.disconnect(), a.disconnect(), b.disconnect())

SCENARIOS = {"audio": scenario_audio, "data": scenario_data, "agents": scenario_agents,
             "delete_room": scenario_delete_room, "auth": scenario_auth, "permissions": scenario_permissions,
             "server_process": scenario_server_process, "worker_protocol": scenario_worker_protocol,
             "observer": scenario_observer}


IN_PROCESS = {"audio", "data", "delete_room", "auth", "permissions", "worker_protocol"}  # read server state directly


async def run(name: str, timeout: float, host: str, port: int) -> dict:
    if name not in IN_PROCESS:  # media-heavy: the server relays from a process of its own
        async with ServerProcess(port) as server:
            return await asyncio.wait_for(SCENARIOS[name](server), timeout)
    server = LoopbackServer(host, port, API_KEY, API_SECRET)
    await server.start()
    try:
        return await asyncio.wait_for(SCENARIOS[name](server), timeout)
    finally:
        await asyncio.wait_for(server.stop(), 15)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--host", default=SERVER_HOST)
    parser.add_argument("--port", type=int, default=7880)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("aioice", "aiortc", "livekit", "livekit.agents", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not args.verbose else logging.INFO)
    if args.verbose:
        logging.getLogger("livekit").setLevel(logging.DEBUG)
    try:
        result = asyncio.run(run(args.scenario, args.timeout, args.host, args.port))
    except BaseException:  # noqa: BLE001 - report and fail
        traceback.print_exc()
        print("RESULT-FAIL", flush=True)
        sys.stdout.flush()
        os._exit(1)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # do not hang on FFI / executor threads at interpreter exit


if __name__ == "__main__":
    sys.exit(main())
