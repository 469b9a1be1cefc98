"""The agent worker of the LiveKit transport: `synthconv worker`.

A livekit-agents AgentServer under one agent name takes explicit dispatches. Each dispatch's
metadata says which role of which job to play; the worker builds that side's AgentSession with
the same engine code as the local transport and links it to its peer:

- participant kinds include AGENT (agents ignore agents by default) and the peer's identity is
  pinned, so the hidden observer can never be linked instead;
- the words it hears come from the peer's `lk.transcription` text stream, published next to
  the peer's audio (the same seam as the local bridge);
- the end of the call travels as a participant attribute, so the peer stops replying;
- with natural turn-taking a listener may cut in on its peer and the peer stops (barge_in.py);
- what it said and what it heard go to the observer as text streams of its own (`SAID_TOPIC`,
  `HEARD_TOPIC`; the names both sides share are in protocol.py). livekit-agents publishes a heard transcript under the *speaker's* identity
  (`sender_identity`), and a real livekit-server passes that on, so on `lk.transcription` an
  observer cannot tell what an agent said from what its peer heard of it;
- each line it said is also its `LINE_ATTR` attribute, for viewers (serve's live page shows each
  line once from it, and marks the lines the peer cut off).

Agents write nothing to local disk: workers on other machines work the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os

from livekit import rtc
from livekit.plugins import openai as _openai, silero  # noqa: F401 - plugins must register on the main thread
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, JobRequest, llm, room_io
from livekit.agents.types import ATTRIBUTE_TRANSCRIPTION_TRACK_ID, TOPIC_TRANSCRIPTION

from ..config import ENGINES, EngineSpec
from ..engine import make_engine
from ..engine.base import CallControl, Engine, Speaker, TranscriptChannel
from ..errors import transient
from .barge_in import BargeIn
from .protocol import (AGENT_NAME, ENDED_ATTR, ENDING_ATTR, FAILED_ATTR, HEARD_TOPIC, INTENDED_ATTR,
                       INTERRUPTED_ATTR, LINE_ATTR, READY_ATTR, SAID_TOPIC, Dispatch, identity,
                       observer_identity)
from .timing import timing_model

log = logging.getLogger("synthconv.worker")

PRELOAD_ENV = "SYNTHCONV_PRELOAD"  # the engine each job process loads before it is offered a job
WORKER_PID_ENV = "SYNTHCONV_WORKER_PID"  # the worker whose job processes these are
_engines: dict[str, Engine] = {}  # EngineSpec as JSON -> engine, per job process


def allowed(spec: EngineSpec) -> bool:
    """A dispatch may name a registered engine, or the plugin this worker was started with
    (`--preload module:Class`): dispatch metadata is data and never names code to import."""
    return spec.name in ENGINES or spec.name == os.environ.get(PRELOAD_ENV)


def _engine(spec: EngineSpec) -> Engine:
    key = spec.model_dump_json()
    if key not in _engines:
        engine = make_engine(spec)
        engine.warm_up()
        _engines[key] = engine
    return _engines[key]


def link_options(peer_identity: str) -> room_io.RoomOptions:
    """Listen to the peer agent and nobody else.

    livekit-agents links only CONNECTOR, SIP and STANDARD participants by default, so without
    AGENT here two agents never hear each other; pinning the identity keeps the hidden observer
    (or anyone else) from being linked instead. It hears at 16 kHz, silero's own rate (no
    resampling before the VAD; the Realtime plugin resamples to its 24 kHz itself), and without
    gain control: the peer is another agent at a steady level. Both cut about 0.05 core per room.
    """
    return room_io.RoomOptions(
        audio_input=room_io.AudioInputOptions(sample_rate=16000, auto_gain_control=False),
        participant_kinds=[rtc.ParticipantKind.PARTICIPANT_KIND_AGENT, rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD],
        participant_identity=peer_identity,
        close_on_disconnect=False,
    )


async def on_request(req: JobRequest) -> None:
    try:
        d = Dispatch.from_json(req.job.metadata or "")
    except ValueError as e:
        log.warning("rejected a dispatch that is not synthconv's: %s", str(e)[:200])
        await req.reject()
        return
    if not allowed(d.engine):
        log.warning("rejected a dispatch naming engine %r (not registered, not this worker's --preload)", d.engine.name)
        await req.reject()
        return
    await req.accept(identity=identity(d.played.job.id, d.role), name=d.name)


async def entrypoint(ctx: JobContext) -> None:
    d = Dispatch.from_json(ctx.job.metadata)
    played, role = d.played, d.role
    job, scenario = played.job, played.scenario
    # loading models blocks; keep the job's event loop free for the room connection
    engine = await asyncio.to_thread(_engine, d.engine)
    peer_role = played.peer(role)
    peer_identity = identity(job.id, peer_role)
    call = CallControl()
    heard = TranscriptChannel()
    turn_taking = d.timing.turn_taking
    barge_in = BargeIn(timing_model(turn_taking, job.seed, scenario, played.personas), role, peer_role, call,
                       heard=lambda text: tell_observer(HEARD_TOPIC, text))

    def on_text(reader: rtc.TextStreamReader, participant_identity: str) -> None:
        log.debug("%s: text stream from %s %s", role, participant_identity, reader.info.attributes)
        if participant_identity != peer_identity:
            return
        track = (reader.info.attributes or {}).get(ATTRIBUTE_TRANSCRIPTION_TRACK_ID)
        peer = ctx.room.remote_participants.get(peer_identity)
        own_tracks = {p.sid for p in peer.track_publications.values()} if peer else set()
        if track and track not in own_tracks:
            log.debug("%s: skipping stream about track %s (peer tracks %s)", role, track, own_tracks)
            return  # what the peer heard of us, not what it said

        async def read() -> None:
            text = await barge_in.follow(reader) if engine.cuts_in else (await reader.read_all()).strip()
            if text:
                log.info("%s heard: %s", role, text[:60])
                heard.put(text)

        asyncio.create_task(read())

    def on_attributes(changed: dict[str, str], participant: rtc.Participant) -> None:
        if participant.identity == peer_identity and changed.get(ENDING_ATTR):
            call.end_after_turn(peer_role)

    tasks: set[asyncio.Task] = set()

    def tell_observer(topic: str, text: str, attributes: dict[str, str] | None = None) -> None:
        task = asyncio.get_running_loop().create_task(ctx.room.local_participant.send_text(
            text.strip(), topic=topic, attributes=attributes,
            destination_identities=[observer_identity(ctx.room.name)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    ctx.room.register_text_stream_handler(TOPIC_TRANSCRIPTION, on_text)
    ctx.room.on("participant_attributes_changed", on_attributes)
    await asyncio.wait_for(ctx.connect(), 30)

    async def peer_ready() -> None:
        while True:
            peer = ctx.room.remote_participants.get(peer_identity)
            if peer is not None and peer.attributes.get(READY_ATTR):
                log.info("%s: peer %s is listening", role, peer_identity)
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let its subscription to our track settle

    speaker = Speaker.of(played, role, heard=heard, call=call, peer_ready=peer_ready, turn_taking=turn_taking,
                         barge_in=turn_taking == "natural")
    session, agent = engine.build(speaker)
    barge_in.session = session
    done = asyncio.Event()

    @session.on("agent_state_changed")
    def _on_state(ev) -> None:  # noqa: ANN001
        log.debug("%s: %s -> %s", role, ev.old_state, ev.new_state)
        if call.ending_role == role and ev.new_state == "listening" and ev.old_state == "speaking":
            done.set()

    def announce_ending(ending: str) -> None:  # tell the peer before it hears the goodbye
        if ending == role:
            asyncio.get_running_loop().create_task(ctx.room.local_participant.set_attributes({ENDING_ATTR: "1"}))

    call.listeners.append(announce_ending)

    def announce_failure(error: BaseException) -> None:  # the orchestrator fails the job with it
        kind = "transient" if transient(error) else "final"
        asyncio.get_running_loop().create_task(
            ctx.room.local_participant.set_attributes({FAILED_ATTR: f"{kind}: {error}"[:500]}))
        done.set()

    call.failure_listeners.append(announce_failure)

    lines = 0

    @session.on("conversation_item_added")
    def _on_item(ev) -> None:  # noqa: ANN001
        nonlocal lines
        if isinstance(ev.item, llm.ChatMessage) and ev.item.role == "assistant" and (ev.item.text_content or "").strip():
            said, attributes = ev.item.text_content.strip(), None
            if ev.item.interrupted:  # the peer cut in: `said` is what got out; the next line repairs it
                call.interrupted[role] = said
                attributes = {INTERRUPTED_ATTR: "1", INTENDED_ATTR: (getattr(agent, "intended", "") or said).strip()}
            tell_observer(SAID_TOPIC, said, attributes)
            lines += 1
            line = json.dumps({"n": lines, "text": said, "cut": bool(ev.item.interrupted)}, ensure_ascii=False)
            task = asyncio.get_running_loop().create_task(ctx.room.local_participant.set_attributes({LINE_ATTR: line}))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    @session.on("user_input_transcribed")
    def _on_heard(ev) -> None:  # noqa: ANN001
        if ev.is_final and ev.transcript.strip():
            tell_observer(HEARD_TOPIC, ev.transcript)

    session.on("error", lambda ev: log.warning("%s: session error %s", role, ev))

    # wait for the peer to join, then link to it explicitly
    while peer_identity not in ctx.room.remote_participants:
        await asyncio.sleep(0.05)
    await session.start(agent=agent, room=ctx.room, room_options=link_options(peer_identity))
    await ctx.room.local_participant.set_attributes({READY_ATTR: "1"})
    log.info("%s: session started in %s, linked to %s", role, ctx.room.name, peer_identity)
    await done.wait()
    if call.error is not None:
        log.warning("%s: gave up: %s", role, call.error)
        return
    await ctx.room.local_participant.set_attributes({ENDED_ATTR: "1"})
    log.info("%s: said its last line", role)
    # stay in the room until the orchestrator deletes it (it records the tail)


def _exit_with_worker() -> None:
    """End this job process once its worker is gone, however the worker ended.

    Seen once: a job process and the worker's forkserver (which lives while any of its children
    does) still running 45 minutes after `generate` had stopped its local worker. A worker killed
    with SIGKILL mid-call does not show it (tests/transport/test_livekit_transport.py checks that case);
    this is the safety net for the paths that do, so that nightly runs never pile up processes.
    """
    import threading
    import time

    worker = int(os.environ.get(WORKER_PID_ENV, "0"))

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                os._exit(0)

    if worker:
        threading.Thread(target=watch, name="synthconv-exit-with-worker", daemon=True).start()


def prewarm(_proc: JobProcess | None = None) -> None:
    """Load the `PRELOAD_ENV` engine in an idle job process, so a job starts without loading
    models on a busy machine."""
    _exit_with_worker()
    _engine(EngineSpec(name=os.environ.get(PRELOAD_ENV, "offline")))


def make_server(url: str, api_key: str, api_secret: str, *, idle_processes: int = 2,
                entry=entrypoint, request=on_request) -> AgentServer:  # noqa: ANN001 - tests swap in faults
    """An AgentServer taking synthconv dispatches, each agent in a job process of its own.

    Processes, not threads: every agent has its own GIL (silero VAD and the engine's models are
    CPU-bound), and one room connect per process sidesteps an FFI race seen when two jobs of one
    process connected at once. `idle_processes` are kept prewarmed with the models loaded.
    """
    os.environ[WORKER_PID_ENV] = str(os.getpid())  # job processes inherit it (see prewarm)

    def job_load(server: AgentServer) -> float:
        """The load this worker reports: the share of its job processes in use, always under
        livekit-server's target load (0.7), so the server spreads jobs over workers but never
        refuses one. livekit-agents reports the machine's CPU instead, and above 70 % (two cores
        busy with rooms, or with anything else) the server dispatched nothing to it: every new
        room's agents "never joined" (seen in CI with the server logging "high cpu load")."""
        busy = len(server.active_jobs)
        return 0.5 * busy / (busy + idle_processes + 1)

    server = AgentServer(
        ws_url=url, api_key=api_key, api_secret=api_secret,
        job_executor_type=JobExecutorType.PROCESS,
        num_idle_processes=idle_processes,
        setup_fnc=prewarm,
        initialize_process_timeout=120,  # loading models while other rooms run
        load_threshold=math.inf,  # the orchestrator limits concurrency, not the CPU monitor
        load_fnc=job_load,
        port=0,
    )
    server.rtc_session(entry, agent_name=AGENT_NAME, on_request=request)
    return server
