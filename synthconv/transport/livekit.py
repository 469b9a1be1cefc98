"""The LiveKit transport: both agents in a real room, recorded by a hidden observer.

Per job the orchestrator creates a room (empty timeout and participant limit set), joins it
as a hidden, subscribe-only observer, dispatches both roles explicitly under one agent name
with the job in the dispatch metadata, re-dispatches a role whose agent does not show up, and
deletes the room at the end whatever happened. The observer writes the same run folder
contract as the local transport, from what actually crossed the room:

- one track per agent, placed on one clock anchored when the observer joined the room, by
  the arrival of its first frame and then by counting samples;
- turns from what each agent says it said and heard (its `SAID_TOPIC` and `HEARD_TOPIC` text
  streams), timed by the speech found in the speaker's own track, so every turn brackets its
  audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass

import numpy as np
from livekit import api, rtc

from ..config import RunConfig
from ..errors import LiveKitError
from ..job import Job, ResolvedJob
from ..runfolder.labels import disfluencies
from ..recording import Recording, Turn
from ..runfolder.audio import loud  # what counts as speech: the contract check's threshold
from .protocol import (AGENT_NAME, ENDED_ATTR, FAILED_ATTR, HEARD_TOPIC, INTENDED_ATTR, INTERRUPTED_ATTR, ROOM_ENV,
                       SAID_TOPIC, Dispatch, identity, observer_identity)

SAMPLE_RATE = 24000
MERGE_GAP_S = 1.2  # pauses inside one turn (between sentences) are shorter than this
JOIN_TIMEOUT_S = 20.0
REDISPATCHES = 2
# nothing said or heard in a room for this long once both agents joined: it is stuck (a server
# node's relay between an agent and the room broke, e.g. while Redis restarted; issue 27)
STALL_S = 90.0
VIEWERS = 4  # hidden viewers a room admits besides the agents, the observer and a spare (serve's live page)


@dataclass(frozen=True)
class LiveKitConfig:
    url: str
    api_key: str
    api_secret: str

    @classmethod
    def from_env(cls) -> LiveKitConfig:
        missing = [v for v in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(v)]
        if missing:
            raise LiveKitError(f"{missing[0]} is not set (or pass --{missing[0].lower().replace('_', '-')})")
        return cls(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])

    def api(self) -> api.LiveKitAPI:
        return api.LiveKitAPI(url=self.url, api_key=self.api_key, api_secret=self.api_secret)

    def observer_token(self, room: str) -> str:
        """Hidden and subscribe-only: the observer can listen and nothing else."""
        grants = api.VideoGrants(room_join=True, room=room, hidden=True, can_subscribe=True,
                                 can_publish=False, can_publish_data=False)
        return (api.AccessToken(self.api_key, self.api_secret).with_identity(observer_identity(room))
                .with_grants(grants).to_jwt())


async def check_server(cfg: LiveKitConfig, timeout: float = 10.0) -> None:
    """Fail fast, with one line, on an unreachable server or bad credentials."""
    try:
        async with cfg.api() as lk:
            await asyncio.wait_for(lk.room.list_rooms(api.ListRoomsRequest()), timeout)
    except api.TwirpError as e:
        raise LiveKitError(f"LiveKit at {cfg.url} refused the credentials ({e.code}: {e.message})") from None
    except (OSError, asyncio.TimeoutError, Exception) as e:  # noqa: BLE001 - aiohttp errors vary
        raise LiveKitError(f"LiveKit at {cfg.url} is unreachable ({type(e).__name__}: {e})") from None


class Observer:
    """A hidden participant that records both agents' tracks and transcriptions."""

    def __init__(self, roles: list[str], job: Job, language: str = "en") -> None:
        self.room = rtc.Room()
        self.roles = roles
        self.language = language
        self.identities = {identity(job.id, r): r for r in roles}
        self.t0 = 0.0
        self.audio: dict[str, tuple[int, list[np.ndarray]]] = {}
        self.texts: list[dict] = []  # {"role", "topic", "text", "at"}: the role that said or heard it
        self.ended = asyncio.Event()
        self.left: list[str] = []  # agents that left before the call ended
        self.failed: tuple[str, str] | None = None  # (role, "transient: why") from an agent that gave up
        self.lost: str | None = None  # why the observer itself lost the room (its server node went away)
        self.last_text = 0.0  # when an agent last sent the observer a text (observer clock)
        self.changed = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_attributes_changed", self._on_attributes)
        self.room.on("participant_disconnected", self._on_left)
        self.room.on("disconnected", self._on_lost)
        for topic in (SAID_TOPIC, HEARD_TOPIC):
            self.room.register_text_stream_handler(topic, self._on_text)

    def _spawn(self, coro) -> None:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def connect(self, cfg: LiveKitConfig, room: str) -> None:
        await self.room.connect(cfg.url, cfg.observer_token(room))
        self.t0 = time.monotonic()

    def joined(self) -> set[str]:
        return {self.identities[i] for i in self.room.remote_participants if i in self.identities}

    def _on_track(self, track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        role = self.identities.get(p.identity)
        if role is None or track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        self._spawn(self._record(role, track))

    async def _record(self, role: str, track: rtc.Track) -> None:
        # 100 ms frames: a tenth of the Python work of the default 10 ms, and the clock still
        # anchors on the first frame's arrival (see recording)
        stream = rtc.AudioStream.from_track(track=track, sample_rate=SAMPLE_RATE, num_channels=1, frame_size_ms=100)
        try:
            async for ev in stream:
                if role not in self.audio:
                    offset = int((time.monotonic() - self.t0) * SAMPLE_RATE) - ev.frame.samples_per_channel
                    self.audio[role] = (max(0, offset), [])
                self.audio[role][1].append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())
        finally:
            await stream.aclose()

    def _on_text(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        role = self.identities.get(participant_identity)
        if role is None:
            return
        self.last_text = self.clock()  # the call is alive (see until_changed)

        async def read() -> None:
            text = (await reader.read_all()).strip()
            attributes = reader.info.attributes or {}
            if text:
                self.texts.append({"role": role, "topic": reader.info.topic, "text": text,
                                   "at": time.monotonic() - self.t0,
                                   "interrupted": attributes.get(INTERRUPTED_ATTR) == "1",
                                   "intended": attributes.get(INTENDED_ATTR)})

        self._spawn(read())

    def _on_attributes(self, changed: dict[str, str], p: rtc.Participant) -> None:
        if p.identity not in self.identities:
            return
        if changed.get(FAILED_ATTR) and self.failed is None:
            self.failed = (self.identities[p.identity], changed[FAILED_ATTR])
            self.changed.set()
        if changed.get(ENDED_ATTR):
            self.ended.set()
            self.changed.set()

    def _on_left(self, p: rtc.RemoteParticipant) -> None:
        if p.identity in self.identities and not self.ended.is_set():
            self.left.append(self.identities[p.identity])
            self.changed.set()

    def _on_lost(self, reason: object) -> None:
        """The room went away under the observer (a node lost, issue 27): fail fast, not at the time-out."""
        if not self.ended.is_set() and self.lost is None:
            self.lost = rtc.DisconnectReason.Name(reason) if isinstance(reason, int) else str(reason)
            self.changed.set()

    async def until_changed(self, room: str, timeout: float) -> None:
        """Wait until the call ends or something breaks it: a TimeoutError after `timeout` s, a
        LiveKitError (transient) once nothing was said or heard for STALL_S."""
        start = self.clock()
        while not self.changed.is_set():
            now = self.clock()
            if now - start >= timeout:
                raise TimeoutError(f"conversation did not end within {timeout:g} s ({self.progress()})")
            if now - max(start, self.last_text) > STALL_S:
                raise LiveKitError(f"room {room} stalled: nothing said or heard for {STALL_S:g} s ({self.progress()})")
            try:
                await asyncio.wait_for(self.changed.wait(), min(1.0, start + timeout - now))
            except asyncio.TimeoutError:
                pass

    def clock(self) -> float:
        """Seconds since the observer joined."""
        return time.monotonic() - self.t0

    def progress(self) -> str:
        """What has crossed the room so far, for error messages."""
        audio = ", ".join(
            f"{r} {sum(len(c) for c in chunks) / SAMPLE_RATE:.1f} s "
            f"({sum(int(loud(c).sum()) for c in chunks) / SAMPLE_RATE:.1f} s speech)"
            for r, (_, chunks) in self.audio.items())
        return f"audio: {audio or 'none'}; transcripts: {len(self.texts)}"

    async def close(self) -> None:
        await self.room.disconnect()
        for t in list(self._tasks):
            t.cancel()

    def recording(self, tail_s: float = 0.5) -> Recording:
        starts = {r: off for r, (off, _) in self.audio.items()}
        pcm = {r: np.concatenate(chunks) if chunks else np.zeros(0, np.int16) for r, (_, chunks) in self.audio.items()}
        length = max([starts[r] + len(pcm[r]) for r in pcm] + [0]) + int(tail_s * SAMPLE_RATE)
        tracks = {}
        for role in self.roles:
            track = np.zeros(length, dtype=np.int16)
            if role in pcm:
                track[starts[role]: starts[role] + len(pcm[role])] = pcm[role]
            tracks[role] = track
        return Recording(sample_rate=SAMPLE_RATE, tracks=tracks, turns=self._turns(tracks), timing="measured")

    def _turns(self, tracks: dict[str, np.ndarray]) -> list[Turn]:
        """Speech regions of each track, labelled with the transcripts that describe them."""
        regions = []  # (start, end, role) in samples
        for role, track in tracks.items():
            speech = np.flatnonzero(loud(track))
            if not len(speech):
                continue
            breaks = np.flatnonzero(np.diff(speech) > MERGE_GAP_S * SAMPLE_RATE)
            firsts = np.concatenate([[speech[0]], speech[breaks + 1]])
            lasts = np.concatenate([speech[breaks], [speech[-1]]])
            regions += [(int(a), int(b) + 1, role) for a, b in zip(firsts, lasts)]
        regions.sort()
        own = {r: [t for t in self.texts if t["topic"] == SAID_TOPIC and t["role"] == r] for r in self.roles}
        heard = {r: [t for t in self.texts if t["topic"] == HEARD_TOPIC and t["role"] != r] for r in self.roles}
        turns: list[Turn] = []
        for role in self.roles:
            mine = [g for g in regions if g[2] == role]
            texts = _assign(mine, own[role])
            heards = _assign(mine, heard[role])
            for (a, b, _), said, got in zip(mine, texts, heards):
                # a line the peer cut off ends its region (the speaker stopped there)
                cut = bool(said) and said[-1].get("interrupted", False)
                text = " ".join(t["text"] for t in said)
                intended = " ".join([t["text"] for t in said[:-1]] + [said[-1].get("intended") or said[-1]["text"]]) if cut else None
                turns.append(Turn(turn=0, role=role, speaker=role, text=text, start=round(a / SAMPLE_RATE, 3),
                                  end=round(b / SAMPLE_RATE, 3), interrupted=cut, intended=intended,
                                  heard=" ".join(t["text"] for t in got) or None,
                                  disfluencies=disfluencies(text, self.language)))
        turns.sort(key=lambda t: t.start)
        for i, t in enumerate(turns):
            t.turn = i
        return turns


def _assign(regions: list[tuple[int, int, str]], texts: list[dict]) -> list[list[dict]]:
    """Each text goes to the last region that started before it arrived."""
    out: list[list[dict]] = [[] for _ in regions]
    for t in sorted(texts, key=lambda t: t["at"]):
        at = int(t["at"] * SAMPLE_RATE)
        started = [i for i, (a, _, _) in enumerate(regions) if a <= at]
        if started:
            out[started[-1]].append(t)
        elif regions:
            out[0].append(t)
    return out


async def converse(played: ResolvedJob, config: RunConfig, timeout: float) -> Recording:
    """Run one job in a fresh LiveKit room and return what the observer recorded."""
    cfg = LiveKitConfig.from_env()
    job, roles = played.job, played.roles
    # `synthconv serve` names the room of a conversation it starts, to hand out its observer token
    room = os.environ.get(ROOM_ENV) or f"synthconv-{job.id}-{uuid.uuid4().hex[:6]}"
    observer = Observer(roles, job, played.scenario.language)
    async with cfg.api() as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=30, departure_timeout=10,
                                                        max_participants=4 + VIEWERS))
        try:
            await observer.connect(cfg, room)

            dispatches = {r: 0 for r in roles}

            async def dispatch(role: str) -> None:
                dispatches[role] += 1
                meta = Dispatch(role=role, played=played, engine=config.engine_spec, timing=config.timing)
                await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=AGENT_NAME, room=room, metadata=meta.to_json()))

            for role in roles[::-1]:  # the listener first
                await dispatch(role)
            for attempt in range(REDISPATCHES + 1):
                t0 = time.monotonic()
                while observer.joined() != set(roles) and time.monotonic() - t0 < JOIN_TIMEOUT_S:
                    await asyncio.sleep(0.1)
                missing = set(roles) - observer.joined()
                if not missing:
                    break
                if attempt == REDISPATCHES:
                    raise LiveKitError(f"agents {sorted(missing)} never joined room {room} "
                                       f"({REDISPATCHES + 1} dispatches, {JOIN_TIMEOUT_S:g} s each)")
                for role in sorted(missing):  # a dispatch can drop silently under load
                    await dispatch(role)
            await observer.until_changed(room, timeout)
            if observer.failed:
                role, why = observer.failed
                kind, _, why = why.partition(": ")
                # a ConnectionError is transient for the supervisor, as in the local transport
                raise (ConnectionError if kind == "transient" else RuntimeError)(f"{role} agent gave up: {why}")
            if observer.lost:  # transient: --retries tries the job again in a fresh room
                raise LiveKitError(f"the observer lost room {room} ({observer.lost}): its server node may be down")
            if observer.left:
                raise LiveKitError(f"agent {observer.left[0]} left room {room} before the call ended")
            await asyncio.sleep(2.0)  # the last words, and the listener's transcript of them, arrive
            rec = observer.recording()
            rec.notes["livekit"] = {"room": room, "dispatches": dispatches}
            rec.notes["turn_taking"] = config.turn_taking  # natural: barge-in
        finally:
            await observer.close()
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
            except api.TwirpError:
                pass
    for t in rec.turns:
        t.speaker = played.personas[t.role].name
    return rec
