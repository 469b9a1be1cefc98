"""The LiveKit transport: both agents in a real room, recorded by a hidden observer. Over 300
lines because the room's life (create, dispatch, re-dispatch, delete) and the observer that
records it share one job's state.

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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from livekit import api, rtc

from ..config import RunConfig
from ..errors import LiveKitError
from ..job import Job, ResolvedJob
from ..recording import Recording, Turn, Word
from ..runfolder import LAG_LIMIT_S  # a conversation that fell further behind real time is not kept
from ..runfolder.audio import loud  # what counts as speech: the contract check's threshold
from ..runfolder.labels import disfluencies
from .admission import Admission
from .protocol import (
    AGENT_NAME,
    ENDED_ATTR,
    FAILED_ATTR,
    HEARD_TOPIC,
    LINE_TOPIC,
    ROOM_ENV,
    SAID_TOPIC,
    Dispatch,
    Line,
    identity,
    observer_identity,
)
from .timing import BEGUN_S

SAMPLE_RATE = 24000
LEAD_S = 0.2  # a line's speech may reach the observer up to this long before its announcement
RUN_GAP_S = 0.15  # silence that ends a stretch of speech in a track (words are closer)
LEAD_IN_S = 0.4  # silence kept before the first speech
JOIN_TIMEOUT_S = 20.0  # an accepted agent joins its room within this
REDISPATCHES = 2
# a dispatch no worker accepted within this is sent again: livekit-server offers it within 1 s
# (0.2 s measured), or drops it at once when every worker is full, which it cannot tell us; while
# it refreshes its list of agent names (once a minute, and when a worker registers) an offer takes
# up to 5 s, and is then sent once more. 8 s here made a room wait 12 s for a worker whose ramp
# (worker_load.py) ended after 5.
ACCEPT_S = 3.0
RETRY_S = 1.0  # between tries while every worker is full
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
    except (TimeoutError, OSError, Exception) as e:  # noqa: BLE001 - aiohttp errors vary
        raise LiveKitError(f"LiveKit at {cfg.url} is unreachable ({type(e).__name__}: {e})") from None


class Observer:
    """A hidden participant that records both agents' tracks and what they say about their lines."""

    def __init__(self, roles: list[str], job: Job, language: str = "en") -> None:
        self.room = rtc.Room()
        self.roles = roles
        self.language = language
        self.identities = {identity(job.id, r): r for r in roles}
        self.t0 = 0.0
        self.audio: dict[str, tuple[int, list[np.ndarray]]] = {}
        # (role, line id) -> {"line": Line, "said": its SAID payload, "heard": what the peer heard of it}
        self.lines: dict[tuple[str, int], dict] = {}
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
        for topic in (LINE_TOPIC, SAID_TOPIC, HEARD_TOPIC):
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
        at = time.monotonic() - self.t0  # when it arrived: a LINE is sent as its line starts
        self.last_text = self.clock()  # the call is alive (see until_changed)

        async def read() -> None:
            try:
                body = json.loads(await reader.read_all())
            except ValueError:
                return
            self.on_message(role, reader.info.topic, body, at)

        self._spawn(read())

    def on_message(self, role: str, topic: str, body: dict, at: float) -> None:
        """A LINE, SAID or HEARD message from `role`'s agent, arrived `at` s after the observer joined."""
        if topic == LINE_TOPIC:
            self.lines.setdefault((role, int(body["id"])), {})["line"] = Line.from_dict(role, body, at)
        elif topic == SAID_TOPIC:
            self.lines.setdefault((role, int(body["id"])), {})["said"] = body
        elif topic == HEARD_TOPIC and body.get("of") is not None:  # what `role` heard of its peer's line
            peer = next(r for r in self.roles if r != role)
            entry = self.lines.setdefault((peer, int(body["of"])), {})
            entry["heard"] = " ".join(filter(None, [entry.get("heard"), str(body.get("text", "")).strip()]))

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
            self.lost = rtc.DisconnectReason.Name(rtc.DisconnectReason.ValueType(reason)) if isinstance(reason, int) else str(reason)
            self.changed.set()

    async def until_changed(self, room: str, timeout: float, spent: float = 0.0) -> None:
        """Wait until the call ends or something breaks it: a TimeoutError once `timeout` s have
        passed (`spent` of them before this wait), a LiveKitError (transient) once nothing was said
        or heard for STALL_S."""
        joined = self.clock()  # both agents are in: silence counts from here
        start = joined - spent
        while not self.changed.is_set():
            now = self.clock()
            if now - start >= timeout:
                raise TimeoutError(f"conversation did not end within {timeout:g} s ({self.progress()})")
            if now - max(joined, self.last_text) > STALL_S:
                raise LiveKitError(f"room {room} stalled: nothing said or heard for {STALL_S:g} s ({self.progress()})")
            try:
                await asyncio.wait_for(self.changed.wait(), min(1.0, start + timeout - now))
            except TimeoutError:
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
        said = sum("said" in e for e in self.lines.values())
        return f"audio: {audio or 'none'}; lines: {said} said of {len(self.lines)}"

    async def close(self) -> None:
        await self.room.disconnect()
        for t in list(self._tasks):
            t.cancel()

    def lag(self) -> float | None:
        """The most any line fell behind real time (s): it started later than its agent's
        turn-taking asked, or played out slower than real time. None when no line was said."""
        lags = [float(e["said"].get("lag", 0.0)) for e in self.lines.values() if "said" in e]
        return round(max(lags), 3) if lags else None

    def recording(self, tail_s: float = 0.5, lead_in_s: float = LEAD_IN_S) -> Recording:
        """The two tracks on the observer's clock and the turns placed on them, less the silence
        before the first speech (the wait for agents) beyond `lead_in_s`."""
        starts = {r: off for r, (off, _) in self.audio.items()}
        pcm = {r: np.concatenate(chunks) if chunks else np.zeros(0, np.int16) for r, (_, chunks) in self.audio.items()}
        length = max([starts[r] + len(pcm[r]) for r in pcm] + [0]) + int(tail_s * SAMPLE_RATE)
        tracks = {}
        for role in self.roles:
            track = np.zeros(length, dtype=np.int16)
            if role in pcm:
                track[starts[role]: starts[role] + len(pcm[role])] = pcm[role]
            tracks[role] = track
        turns = self._turns(tracks)
        first = min([int(np.argmax(loud(t))) for t in tracks.values() if loud(t).any()] or [0])
        cut = max(0, first - int(lead_in_s * SAMPLE_RATE))
        if cut:
            tracks = {r: t[cut:] for r, t in tracks.items()}
            for t in turns:
                t.shift(-cut / SAMPLE_RATE)
        rec = Recording(sample_rate=SAMPLE_RATE, tracks=tracks, turns=turns, timing="measured")
        rec.notes["realtime_lag_s"] = self.lag()
        return rec

    def _turns(self, tracks: dict[str, np.ndarray]) -> list[Turn]:
        """One turn (or backchannel) per line an agent announced, placed on its own track.

        A line's audio reaches the observer 0.05-0.35 s after its announcement (measured): its
        onset is the first speech in the track from LEAD_S before the announcement arrived, and
        after the agent's previous line played out (that line's onset plus what it played, from
        its SAID, less its lead-in). It runs to the last speech before the agent's next line.
        So the agents' own boundaries split turns: a quick reply or a cut-in never fuses with
        the line before it. Words (TTS-aligned, relative to the line's first sample) are placed
        from the onset."""
        turns: list[Turn] = []
        for role in self.roles:
            speech = np.flatnonzero(loud(tracks[role]))
            # where each stretch of speech starts (index into `speech`): gaps of RUN_GAP_S or more
            runs = np.concatenate([[0], np.flatnonzero(np.diff(speech) > RUN_GAP_S * SAMPLE_RATE) + 1])
            placed: list[tuple[int, dict]] = []  # (onset sample, entry), in the order said
            after, known = 0, True  # the previous line's audio ends about here; whether its SAID said so
            for _, e in sorted(((i, e) for (r, i), e in self.lines.items() if r == role and "line" in e),
                               key=lambda ie: ie[0]):
                line: Line = e["line"]
                k = int(np.searchsorted(speech, max(after, int((line.at - LEAD_S) * SAMPLE_RATE))))
                if k >= len(speech):
                    continue  # announced, but its audio never came (the call ended)
                if known:  # speech running into that point since after the line before is this line's
                    # (its announcement came late: seen 0.45 s late at 16 rooms on a loaded machine)
                    k = max(int(runs[np.searchsorted(runs, k, side="right") - 1]), int(np.searchsorted(speech, after)))
                onset = int(speech[k])
                placed.append((onset, e))
                said = e.get("said") or {}
                known = "played" in said
                after = onset + int(max(0.05, float(said.get("played", 0.0)) - line.speech[0] - 0.05) * SAMPLE_RATE)
            for n, (onset, e) in enumerate(placed):
                nxt = placed[n + 1][0] if n + 1 < len(placed) else len(tracks[role])
                end = int(speech[int(np.searchsorted(speech, nxt)) - 1]) + 1
                turns.append(self._turn(role, onset, end, e, speech))
        turns.sort(key=lambda t: t.start)
        for i, t in enumerate(turns):
            t.turn = i
        return turns

    def _turn(self, role: str, onset: int, end: int, e: dict, speech: np.ndarray) -> Turn:
        line: Line = e["line"]
        said = e.get("said") or {}
        cut = bool(said.get("interrupted"))
        text = str(said.get("text") or line.text).strip()
        words = None
        if line.words:
            played = float(said.get("played", line.duration)) if cut else line.duration
            words = _place_words([w for w in line.words if w[1] < played - BEGUN_S], onset, end, speech) or None
        backchannel = line.kind == "backchannel"
        return Turn(turn=0, role=role, speaker=role, text=text, start=round(onset / SAMPLE_RATE, 3),
                    end=round(end / SAMPLE_RATE, 3), interrupted=cut,
                    intended=(str(said.get("intended") or line.text) if cut else None),
                    heard=None if backchannel else e.get("heard"),
                    kind="backchannel" if backchannel else "turn", words=words,
                    disfluencies=[] if backchannel else disfluencies(text, self.language))


EDGE = int(0.002 * SAMPLE_RATE)  # samples: a placed word has speech this far inside its edges


def _place_words(words: list[tuple[str, float, float]], onset: int, end: int, speech: np.ndarray) -> list[Word]:
    """A line's TTS word times placed on the observer's track from the line's onset (samples).

    The receiver's jitter buffer stretches or shrinks silences (measured: -0.13 to +0.21 s), so
    the words drift from their TTS times within a line: a word that follows a pause, or that
    would land on silence, is moved to where speech really resumes (the first speech after the
    word before it, from 0.15 s before it was due, if within 0.35 s), and the words after it keep
    that shift. A word still without speech under it is left out (its text stays in the turn)."""
    if not words:
        return []
    rate, shift, placed = SAMPLE_RATE, 0, []
    lead, after = words[0][1], onset  # `after`: where the word before ended, as placed

    def speech_from(a: int) -> int | None:
        k = int(np.searchsorted(speech, a))
        return int(speech[k]) if k < len(speech) else None

    for i, (w, a, b) in enumerate(words):
        due = max(after, onset + int((a - lead) * rate) + shift)
        length = max(1, int((b - a) * rate))
        first = speech_from(due)
        if i and (a - words[i - 1][2] >= 0.05 or first is None or first >= due + length):
            found = speech_from(max(after, due - int(0.15 * rate)))
            if found is not None and abs(found - due) < int(0.35 * rate):
                shift += found - due
                due = found
        if due >= end:
            break
        stop = min(end, due + length)
        # speech inside it by more than the rounding to ms and the lead-in cut can move its edges
        first = speech_from(due + EDGE)
        if Word.bare(w) and first is not None and first < stop - EDGE:
            placed.append(Word(Word.bare(w), round(due / rate, 3), round(stop / rate, 3)))
        after = stop
    return placed


async def _admit(lk: api.LiveKitAPI, room: str, roles: list[str], dispatch, admission: Admission,  # noqa: ANN001
                 joined: Callable[[], set[str]]) -> float:
    """Dispatch `roles` (in this order) until a worker accepted each; the seconds it took.

    A worker at its load threshold takes no job and livekit-server drops the dispatch, so a
    dispatch with no job after ACCEPT_S is withdrawn (a late acceptance would only be ended
    again) and sent anew, until workers have room. Rooms of one run take turns (admission.py):
    the wait for that turn counts too."""
    t0 = time.monotonic()
    await admission.turn()
    sent: dict[str, str] = {}  # role -> id of its current dispatch
    accepted: set[str] = set()
    told = False
    while True:
        if admission.given_up():
            raise LiveKitError(f"no agent worker took room {room} within {time.monotonic() - t0:.0f} s "
                               f"(is a `synthconv worker` running for {api_host(lk)}?)")
        for role in roles:
            if role not in accepted:
                if role in sent:
                    await lk.agent_dispatch.delete_dispatch(sent[role], room)
                sent[role] = await dispatch(role)
        deadline = time.monotonic() + ACCEPT_S
        while time.monotonic() < deadline:
            with_jobs = {d.id for d in await lk.agent_dispatch.list_dispatch(room) if d.state.jobs}
            accepted = {r for r, i in sent.items() if i in with_jobs} | joined()
            if len(accepted) == len(roles):
                admission.admitted()
                return time.monotonic() - t0
            await asyncio.sleep(0.25)
        if not told:
            admission.waiting()
            told = True
        await asyncio.sleep(RETRY_S)


def api_host(lk: api.LiveKitAPI) -> str:
    return getattr(lk, "_url", "") or os.environ.get("LIVEKIT_URL", "the server")


async def converse(played: ResolvedJob, config: RunConfig, timeout: float,  # noqa: C901
                   admission: Admission | None = None) -> Recording:
    """Run one job in a fresh LiveKit room and return what the observer recorded. `timeout`
    counts from the moment both agents were accepted: waiting for a worker is not the call."""
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

            async def dispatch(role: str) -> str:
                dispatches[role] += 1
                meta = Dispatch(role=role, played=played, engine=config.engine_spec, timing=config.timing)
                sent = await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                    agent_name=AGENT_NAME, room=room, metadata=meta.to_json()))
                return sent.id

            # the listener first, so it is listening when the opener speaks
            waited = await _admit(lk, room, roles[::-1], dispatch, admission or Admission(), observer.joined)
            admitted = time.monotonic()  # the job's time-out counts from here, as the supervisor's deadline does
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
                for role in sorted(missing):  # an accepted agent that never came (livekit/livekit#4374)
                    await dispatch(role)
            await observer.until_changed(room, timeout, spent=time.monotonic() - admitted)
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
            lag = rec.notes["realtime_lag_s"]
            if lag is not None and lag > LAG_LIMIT_S:  # its timing would say more about the machine than the call
                raise LiveKitError(f"room {room} fell {lag:.2f} s behind real time (more than {LAG_LIMIT_S:g} s): "
                                   "the machine is short of CPU for the rooms it runs")
            rec.notes["livekit"] = {"room": room, "dispatches": dispatches, "waited_s": round(waited, 1)}
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
