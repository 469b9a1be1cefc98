"""Somebody else's agent on the line (issue 28): a call between a user's deployed livekit-agents
agent and synthconv's caller, in a real room, recorded by the hidden observer.

About 360 lines because a call has three parties to keep in step (the room, the agent, the
caller's session) and each way the agent can fail is its own one-line error.

Per job: create the room; the hidden observer joins (livekit.Observer: it publishes nothing and
no participant sees it, so no agent can link it); synthconv's caller joins as an ordinary
participant; the user's agent is dispatched explicitly under its agent name; the caller links
to it and the call runs until one side ends it; the room is deleted whatever happened.

How the caller joins, so that an agent with livekit-agents' defaults hears it: a STANDARD
participant (the token's default kind, as a browser or app user; the default participant kinds
of an AgentSession are STANDARD, SIP and CONNECTOR, never AGENT), identity `<role>-<job id>`,
its persona's name as its name, and the attributes `synthconv.role` and `synthconv.simulated`.
It publishes one microphone track and no transcript (a phone caller sends audio only): so every
`lk.transcription` stream about the caller's track is what the agent's STT made of it.

synthconv's side runs in this process (the runner), not in an agent worker: its session links
to the agent's identity (participant kinds include AGENT: the agent under test is one), hears
the agent's published transcript (or its own STT: the openai-* engines), cuts in on it where the
turn-taking model says (barge_in.py) and ends the call when its policy does (engine/offline/
reactive.py), or after STALL_S of silence from the agent twice.

Errors a user must be able to act on are one line each, and not retried (a flaky agent shows
as failed, never hidden by a second try): no worker took the dispatch within AGENT_WAIT_S (none
is registered under that name), the agent never published audio, the agent left before the
call ended. The dispatch metadata (documented in README: "Your own agent on the line") carries
the scenario's context for agents that want it; an agent that ignores it works the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid

import numpy as np
from livekit import api, rtc
from livekit.agents import AgentSession, llm, room_io
from livekit.agents.types import ATTRIBUTE_TRANSCRIPTION_TRACK_ID, TOPIC_TRANSCRIPTION

from ..config import RunConfig
from ..engine.base import CallControl, Engine, Speaker, TranscriptChannel
from ..engine.offline.acts import says_goodbye
from ..engine.session import STALL_S
from ..errors import AgentUnderTestError
from ..job import ResolvedJob
from ..recording import Recording
from ..runfolder.audio import loud
from .barge_in import BargeIn
from .call_observer import CallObserver
from .livekit import VIEWERS, LiveKitConfig
from .protocol import ROOM_ENV, identity
from .timing import timing_model

log = logging.getLogger("synthconv.caller")

AGENT_WAIT_S = 20.0  # a dispatch no worker took within this: no agent is registered under that name
JOIN_WAIT_S = 20.0  # an agent that took the dispatch joins the room within this
AUDIO_WAIT_S = 20.0  # an agent that joined publishes its audio within this
GOODBYE_S = 5.0  # after its last line the caller waits this long for the agent to answer, then for it to end
ROLE_ATTR = "synthconv.role"
SIMULATED_ATTR = "synthconv.simulated"


def caller_token(cfg: LiveKitConfig, room: str, ident: str, name: str, role: str) -> str:
    """An ordinary participant (kind STANDARD, the token's default) that may publish a microphone."""
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True,
                             can_publish_data=True, can_publish_sources=["microphone"])
    return (api.AccessToken(cfg.api_key, cfg.api_secret).with_identity(ident).with_name(name)
            .with_attributes({ROLE_ATTR: role, SIMULATED_ATTR: "1"}).with_grants(grants).to_jwt())


def dispatch_metadata(played: ResolvedJob, caller_ident: str) -> str:
    """What the agent's job metadata says (README "Your own agent on the line"): the scenario as
    the agent's side sees it (its role's goal and facts, not the caller's), and who calls."""
    ut = played.under_test
    assert ut is not None
    sc, caller = played.scenario, played.peer(ut.role)
    return json.dumps({"synthconv": {
        "version": 1, "conversation": played.job.id,
        "scenario": {"id": sc.id, "title": sc.title, "domain": sc.domain, "language": sc.language},
        "role": ut.role, "label": sc.roles[ut.role].label, "goal": sc.roles[ut.role].goal,
        "facts": played.facts.get(ut.role, {}),
        "caller": {"role": caller, "label": sc.roles[caller].label, "identity": caller_ident,
                   "name": played.personas[caller].name}}}, ensure_ascii=False)


class Caller:
    """synthconv's side of the call: an ordinary participant whose session links to the agent."""

    def __init__(self, played: ResolvedJob, engine: Engine, config: RunConfig, observer: CallObserver) -> None:
        assert played.under_test is not None
        self.played, self.engine, self.observer = played, engine, observer
        self.role = played.peer(played.under_test.role)
        self.ident = identity(played.job.id, self.role)
        self.turn_taking = config.turn_taking
        self.room = rtc.Room()
        self.call = CallControl()
        self.heard = TranscriptChannel()
        self.agent_ident: str | None = None
        self.session: AgentSession | None = None
        self.done = asyncio.Event()  # the caller hung up (or its engine gave up)
        self.last_activity = time.monotonic()  # the end of the last speech of either side, or now
        self.agent_lines = 0
        self.hung_up: float | None = None  # when the caller left, on the observer's clock
        self._tasks: set[asyncio.Task] = set()
        self.barge_in = BargeIn(timing_model(self.turn_taking, played.job.seed, played.scenario, played.personas),
                                self.role, played.under_test.role, self.call, heard=lambda text: None)
        self.room.register_text_stream_handler(TOPIC_TRANSCRIPTION, self._on_transcription)

    def _spawn(self, coro) -> asyncio.Task:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def connect(self, cfg: LiveKitConfig, room: str) -> None:
        name = self.played.personas[self.role].name
        await self.room.connect(cfg.url, caller_token(cfg, room, self.ident, name, self.role))

    def _on_transcription(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        """The agent's transcript of its own speech, word by word as it is played: what the
        offline caller hears (and may cut in on)."""
        track = (reader.info.attributes or {}).get(ATTRIBUTE_TRANSCRIPTION_TRACK_ID)
        agent = self.room.remote_participants.get(participant_identity)
        if participant_identity != self.agent_ident or agent is None or (
                track and track not in {p.sid for p in agent.track_publications.values()}):
            return
        cuts_in = self.engine.scheduled and self.turn_taking == "natural"  # it follows words, not audio

        async def read() -> None:
            text = await self.barge_in.follow(reader) if cuts_in else (await reader.read_all()).strip()
            if text:
                self.heard.put(text)

        self._spawn(read())

    async def agent_published(self) -> None:
        """Until the agent has published its audio (its session is up)."""
        while True:
            p = self.room.remote_participants.get(self.agent_ident or "")
            if p is not None and any(pub.kind == rtc.TrackKind.KIND_AUDIO for pub in p.track_publications.values()):
                return
            await asyncio.sleep(0.05)

    async def start(self, agent_ident: str) -> None:  # noqa: C901
        """Link a session to the agent and start talking (the first speaker opens once the agent
        has published its audio)."""
        self.agent_ident = agent_ident

        async def ready() -> None:
            await self.agent_published()
            await asyncio.sleep(0.5)  # its subscription to our track settles

        speaker = Speaker.of(self.played, self.role, heard=self.heard, call=self.call, peer_ready=ready,
                             turn_taking=self.turn_taking, barge_in=self.turn_taking == "natural", reacts=True)
        session, agent = self.engine.build(speaker)
        self.session = session
        self.barge_in.session = session
        lines, observer = self.observer.caller_lines, self.observer

        @session.on("agent_state_changed")
        def _on_state(ev) -> None:  # noqa: ANN001
            self.last_activity = time.monotonic()
            if ev.new_state == "speaking":
                lines.append({"text": "", "start": observer.now(), "end": None, "interrupted": False, "intended": None})
            elif ev.old_state == "speaking":
                if lines:
                    lines[-1]["end"] = observer.now()
                if self.call.ending_role == self.role:
                    self._spawn(self._hang_up())

        @session.on("conversation_item_added")
        def _on_item(ev) -> None:  # noqa: ANN001
            item = ev.item
            if not isinstance(item, llm.ChatMessage) or item.role != "assistant":
                return
            text = (item.text_content or "").strip()
            if not text:
                return
            line = next((x for x in lines if not x["text"]), None)
            if line is None:
                return
            line["text"] = text
            if item.interrupted:  # the agent came in over us: `text` is what got out
                self.call.interrupted[self.role] = line["text"]
                line.update(interrupted=True, intended=(getattr(agent, "intended", "") or line["text"]).strip())

        @session.on("user_state_changed")
        def _on_agent_speech(ev) -> None:  # noqa: ANN001 - the "user" is the agent under test
            self.last_activity = time.monotonic()
            if ev.new_state == "speaking":
                self.agent_lines += 1

        @session.on("user_input_transcribed")
        def _on_heard(ev) -> None:  # noqa: ANN001
            if ev.is_final and ev.transcript.strip():
                observer.caller_heard.append({"text": ev.transcript.strip(), "at": observer.now()})

        self.call.failure_listeners.append(lambda error: self.done.set())
        options = room_io.RoomOptions(
            audio_input=room_io.AudioInputOptions(sample_rate=16000),
            text_output=False,  # a caller sends audio only: every transcript of our track is the agent's
            participant_kinds=[rtc.ParticipantKind.PARTICIPANT_KIND_AGENT, rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
                               rtc.ParticipantKind.PARTICIPANT_KIND_SIP, rtc.ParticipantKind.PARTICIPANT_KIND_CONNECTOR],
            participant_identity=agent_ident,
            close_on_disconnect=False,
            delete_room_on_close=False,
        )
        await session.start(agent=agent, room=self.room, room_options=options)
        self._time_outgoing(session)
        self._spawn(self._watch_stalls())

    def _time_outgoing(self, session) -> None:  # noqa: ANN001 - an AgentSession
        """Note when each sound of ours leaves for the room (the frame's loud samples, once the
        frames queued before it have played): on the observer's clock, since both are here. The
        audio source is RoomIO's own (livekit-agents 1.8: RoomIO._audio_output._audio_source)."""
        source = getattr(getattr(getattr(session, "_room_io", None), "_audio_output", None), "_audio_source", None)
        if not isinstance(source, rtc.AudioSource):
            raise RuntimeError("livekit-agents changed: RoomIO's audio source is not where caller.py looks for it")
        capture, sent, now = source.capture_frame, self.observer.sent, self.observer.now

        async def timed(frame: rtc.AudioFrame) -> None:
            at = now() + source.queued_duration
            await capture(frame)
            sound = np.flatnonzero(loud(np.frombuffer(frame.data, dtype=np.int16)))
            if len(sound):
                sent.append((at + sound[0] / frame.sample_rate, at + (sound[-1] + 1) / frame.sample_rate))

        source.capture_frame = timed  # type: ignore[method-assign]  # wrapped on purpose: see the docstring

    async def _watch_stalls(self) -> None:
        """Ask the policy for a line when the agent has been silent STALL_S since the last speech
        (it says "Hello?", then hangs up)."""
        while not self.done.is_set():
            await asyncio.sleep(0.5)
            s = self.session
            if (s is not None and s.agent_state == "listening" and s.user_state == "listening"
                    and self.call.ending_role is None and time.monotonic() - self.last_activity >= STALL_S):
                self.last_activity = time.monotonic()
                s.generate_reply()

    async def _hang_up(self) -> None:
        """The caller said its last line: it waits for the agent's goodbye (up to GOODBYE_S for it
        to start, then until it ends) and leaves; the recording ends here (`hung_up`)."""
        t0 = time.monotonic()

        def agent_speaking() -> bool:
            return self.session is not None and self.session.user_state == "speaking"

        while time.monotonic() - t0 < GOODBYE_S and not agent_speaking():
            await asyncio.sleep(0.1)
        while agent_speaking() and time.monotonic() - t0 < 4 * GOODBYE_S:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # its last words reach the observer
        self.hung_up = self.observer.now()
        self.call.finish()
        self.done.set()

    async def close(self) -> None:
        if self.session is not None:
            try:
                await asyncio.wait_for(self.session.aclose(), 5)
            except Exception:  # noqa: BLE001 - closing after a failure: the failure is what counts
                pass
        await self.room.disconnect()
        for t in list(self._tasks):
            t.cancel()


async def _agent_joins(lk: api.LiveKitAPI, room: str, dispatch_id: str, caller: Caller, agent_name: str) -> str:
    """The identity of the agent that took the dispatch, once it is in the room."""
    t0 = time.monotonic()
    taken = None  # when a worker took the job
    ident = ""
    while True:
        waited = time.monotonic() - t0
        if not taken:
            for d in await lk.agent_dispatch.list_dispatch(room):
                if d.id == dispatch_id and d.state.jobs:
                    taken, ident = time.monotonic(), d.state.jobs[0].state.participant_identity
            if not taken and waited > AGENT_WAIT_S:
                raise AgentUnderTestError(
                    f"--agent: no worker took the call for agent name {agent_name!r} within {AGENT_WAIT_S:g} s: "
                    f"none is registered under that name with {os.environ.get('LIVEKIT_URL', 'this server')}, or "
                    "every one is above its load threshold")
        agents = [p for p in caller.room.remote_participants.values()
                  if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and (not ident or p.identity == ident)]
        if agents:
            return agents[0].identity
        if taken and time.monotonic() - taken > JOIN_WAIT_S:
            raise AgentUnderTestError(f"agent {agent_name!r} took the call but never joined room {room} "
                                      f"within {JOIN_WAIT_S:g} s")
        await asyncio.sleep(0.2)


async def converse(played: ResolvedJob, config: RunConfig, engine: Engine, timeout: float) -> Recording:
    """One call between the agent under test and synthconv's caller; what the observer recorded."""
    ut = played.under_test
    assert ut is not None and ut.agent_name
    cfg = LiveKitConfig.from_env()
    job = played.job
    room = os.environ.get(ROOM_ENV) or f"synthconv-{job.id}-{uuid.uuid4().hex[:6]}"
    caller_ident = identity(job.id, played.peer(ut.role))
    observer = CallObserver(played, caller_ident)
    caller = Caller(played, engine, config, observer)
    left: list[float] = []
    async with cfg.api() as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=30, departure_timeout=10,
                                                        max_participants=3 + VIEWERS))
        try:
            await observer.connect(cfg, room)
            await caller.connect(cfg, room)
            sent = await lk.agent_dispatch.create_dispatch(api.CreateAgentDispatchRequest(
                agent_name=ut.agent_name, room=room, metadata=dispatch_metadata(played, caller_ident)))
            agent_ident = await _agent_joins(lk, room, sent.id, caller, ut.agent_name)
            joined = time.monotonic()
            caller.agent_ident = agent_ident
            observer.watch(agent_ident)
            caller.room.on("participant_disconnected",
                           lambda p: left.append(time.monotonic()) if p.identity == agent_ident else None)
            try:
                await asyncio.wait_for(caller.agent_published(), AUDIO_WAIT_S)
            except TimeoutError:
                raise AgentUnderTestError(f"agent {ut.agent_name!r} joined room {room} but published no audio "
                                          f"within {AUDIO_WAIT_S:g} s") from None
            await caller.start(agent_ident)
            deadline = joined + timeout
            while not caller.done.is_set() and not left:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the call did not end within {timeout:g} s ({observer.progress()})")
                await asyncio.sleep(0.1)
            if caller.call.error is not None:
                raise caller.call.error
            if left and not caller.done.is_set():
                if not (observer.segments and says_goodbye(observer.segments[-1]["text"])):
                    raise AgentUnderTestError(
                        f"agent {ut.agent_name!r} left room {room} before the call ended "
                        f"({left[0] - joined:.0f} s in, {caller.agent_lines} lines heard)")
                ending = {"by": ut.role, "reason": "goodbye"}
            else:
                ending = {"by": caller.role, "reason": caller.call.ending_reason or "hung up"}
            await asyncio.sleep(1.0)  # the agent's transcript of the last words arrives
            rec = observer.recording(until=caller.hung_up)
        finally:
            await caller.close()
            await observer.close()
            try:
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
            except api.TwirpError:
                pass
    from ..under_test.assess import assess

    names = {ut.role: ut.agent_name, caller.role: played.personas[caller.role].name}
    for t in rec.turns:
        t.speaker = names[t.role]
    rec.notes["ending"] = ending
    rec.notes["livekit"] = {"room": room, "dispatches": {ut.role: 1}, "agent_identity": agent_ident}
    rec.notes["turn_taking"] = config.turn_taking
    rec.notes["voices"] = {caller.role: engine.voice(played.personas[caller.role]),
                           ut.role: {"engine": "agent under test", "agent_name": ut.agent_name}}
    rec.notes["agent_under_test"] = assess(played, rec, transit=observer.transit, ending=ending)
    return rec
