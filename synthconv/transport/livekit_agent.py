"""The agent worker of the LiveKit transport: `synthconv worker`. Over 300 lines because one
worker holds the whole agent side of a room: dispatch, linking, the floor's hooks and the
text streams to the observer.

A livekit-agents AgentServer under one agent name takes explicit dispatches. Each dispatch's
metadata says which role of which job to play; the worker builds that side's AgentSession with
the same engine code as the local transport and links it to its peer:

- participant kinds include AGENT (agents ignore agents by default) and the peer's identity is
  pinned, so the hidden recorder can never be linked instead;
- each line it starts is announced to its peer and the observer (`LINE_TOPIC`, with its words'
  times when the engine has them); an engine whose turns are `scheduled` (the offline engine)
  hears its peer through those announcements, and its floor (floor.py) times its replies,
  cut-ins and backchannels from the seeded turn-taking model; other engines hear the peer's
  audio with their own VAD and STT;
- the end of the call travels as a participant attribute, so the peer stops replying;
- what it said and what it heard go to the observer as text streams of its own (`SAID_TOPIC`,
  `HEARD_TOPIC`; the names both sides share are in protocol.py), so the observer can tell what
  an agent said from what its peer heard of it (on `lk.transcription` it cannot: livekit-agents
  publishes a heard transcript under the speaker's identity);
- each turn it said is also its `LINE_ATTR` attribute, for viewers (serve's live page shows each
  line once from it, and marks the lines the peer cut off).

Agents write nothing to local disk: workers on other machines work the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

from livekit import rtc
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, JobRequest, llm, room_io
from livekit.plugins import openai as _openai  # noqa: F401 - plugins must register on the main thread
from livekit.plugins import silero as _silero  # noqa: F401 - (engines warm up in a thread: _run)

from ..config import ENGINES, EngineSpec
from ..engine import make_engine
from ..engine.base import CallControl, Engine, Speaker, TranscriptChannel
from ..engine.session import CHECK_IN, STALL_S
from ..errors import transient
from .floor import Floor
from .protocol import (
    AGENT_NAME,
    ENDED_ATTR,
    ENDING_ATTR,
    FAILED_ATTR,
    HEARD_TOPIC,
    LINE_ATTR,
    LINE_TOPIC,
    READY_ATTR,
    SAID_TOPIC,
    Dispatch,
    Line,
    identity,
    observer_identity,
)
from .timing import timing_model
from .worker_load import VadLag, WorkerLoad, machine_busy, report_lag, state_dir

log = logging.getLogger("synthconv.worker")

PRELOAD_ENV = "SYNTHCONV_PRELOAD"  # the engine each job process loads before it is offered a job
WORKER_PID_ENV = "SYNTHCONV_WORKER_PID"  # the worker whose job processes these are
LOAD_THRESHOLD = 0.7  # of the worker's cores (livekit-agents' own default): above it, no new job
PLAYOUT_SLACK_S = 0.25  # a line plays out this much later than its length without falling behind (the source's queue)
_engines: dict[str, Engine] = {}  # EngineSpec as JSON -> engine, per job process


def allowed(spec: EngineSpec) -> bool:
    """A dispatch may name a registered engine, or the plugin this worker was started with
    (`--preload module:Class`): dispatch metadata is data and never names code to import."""
    return spec.name in ENGINES or spec.name == os.environ.get(PRELOAD_ENV)


def _engine(spec: EngineSpec) -> Engine:
    key = spec.model_dump_json()
    if key not in _engines:
        engine = make_engine(spec)
        if engine.scheduled:  # it hears announced lines: no VAD, no recognizer
            engine.warm_up(hears_audio=False)
        else:
            engine.warm_up()
        _engines[key] = engine
    return _engines[key]


def link_options(peer_identity: str, scheduled: bool = False, sample_rate: int = 24000) -> room_io.RoomOptions:
    """Listen to the peer agent and nobody else.

    livekit-agents links only CONNECTOR, SIP and STANDARD participants by default, so without
    AGENT here two agents never hear each other; pinning the identity keeps the hidden observer
    (or anyone else) from being linked instead. It hears at 16 kHz, silero's own rate (no
    resampling before the VAD; the Realtime plugin resamples to its 24 kHz itself), and without
    gain control: the peer is another agent at a steady level.

    A `scheduled` agent (its floor times its turns from the peer's announced lines) takes no
    audio input at all, publishes its transcript whole instead of paced word by word (nobody
    follows it: the live page shows each line as it starts) and speaks at its TTS's own rate
    (no resampling on the way out).
    """
    if scheduled:
        return room_io.RoomOptions(
            audio_input=False,
            audio_output=room_io.AudioOutputOptions(sample_rate=sample_rate),
            text_output=room_io.TextOutputOptions(sync_transcription=False),
            participant_kinds=[rtc.ParticipantKind.PARTICIPANT_KIND_AGENT, rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD],
            participant_identity=peer_identity,
            close_on_disconnect=False,
        )
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


class Lines:
    """What an agent tells about its own lines, as they start and once they played out.

    For a scheduled agent the floor announces each line as it releases it (with its words);
    for any other engine a line is announced when its audio starts playing. Once it played out,
    the observer gets what was said of it: the text (up to the cut when the peer cut in), how
    many seconds played, and how far it fell behind real time (started late, or played out
    slower than real time: the agent's process did not keep up)."""

    def __init__(self, role: str, send, floor: Floor | None, show) -> None:  # noqa: ANN001
        self.role, self.send, self.floor, self.show = role, send, floor, show
        self.n = 0  # lines announced here (engines without a floor)
        self.playing: tuple[Line, float] | None = None  # the line playing, and when it started (monotonic)
        self.finished: tuple[Line, float, bool, float] | None = None  # (line, played s, cut, lag) awaiting its text

    def started(self) -> None:
        """The session's audio output started a line."""
        if self.floor is not None:  # the floor announced it as it released it
            line = self.floor.current
            self.playing = (line, line.at) if line is not None else None
            if line is not None and line.late:
                report_lag(line.late)  # the worker takes no new room while its agents fall behind
            return
        line = Line(self.role, self.n, "turn", "", None, 0.0, at=time.monotonic())
        self.n += 1
        self.playing = (line, line.at)
        # to the peer too: what its recognizer hears next is of this line (its HEARD says `of`)
        self.send(LINE_TOPIC, line.to_dict(), to_peer=True)

    def finished_playing(self, played: float, interrupted: bool) -> None:
        if self.playing is None:
            return
        (line, at), self.playing = self.playing, None
        lag = max(line.late, time.monotonic() - at - played - PLAYOUT_SLACK_S, 0.0)
        report_lag(lag)
        if self.floor is not None:
            self.floor.current = None
            self._said(line, line.said(played) if interrupted else line.text, played, interrupted, lag)
        else:
            self.finished = (line, played, interrupted, lag)

    def item(self, text: str, interrupted: bool, intended: str) -> None:
        """The chat item of a line (engines without a floor): its text completes the SAID."""
        if self.floor is None and self.finished is not None:
            (line, played, cut, lag), self.finished = self.finished, None
            self._said(line, text, played, interrupted or cut, lag, intended)

    def _said(self, line: Line, text: str, played: float, cut: bool, lag: float, intended: str = "") -> None:
        self.send(SAID_TOPIC, {"id": line.id, "text": text, "interrupted": cut,
                               "intended": (intended or line.text) if cut else None,
                               "played": round(played, 3), "lag": round(lag, 3)})
        if line.kind == "turn" and text:
            self.show(text, cut)


SOURCE_QUEUE_MS = 1500  # audio an agent queues ahead of playout (livekit-agents' RoomIO: 200 ms)


def deepen_audio_source() -> None:
    """Let RoomIO queue SOURCE_QUEUE_MS of a line's audio ahead of playout instead of 200 ms.

    RoomIO feeds a line's audio to the track from the job's event loop, at most 200 ms ahead: a
    loop held up longer than that (a machine short of CPU) leaves a gap in the middle of a word,
    and the line plays out slower than real time. A cut still stops at once (the queue is
    cleared). livekit-agents 1.8 builds that source in room_io/_output.py with the queue size
    fixed; this gives that module an `rtc` whose AudioSource asks for more."""
    import types

    from livekit.agents.voice.room_io import _output

    class DeepSource(rtc.AudioSource):
        def __init__(self, sample_rate: int, num_channels: int, queue_size_ms: int = 1000, loop=None) -> None:  # noqa: ANN001
            super().__init__(sample_rate, num_channels, queue_size_ms=max(queue_size_ms, SOURCE_QUEUE_MS), loop=loop)

    if getattr(_output.rtc, "AudioSource", None) is rtc.AudioSource:
        _output.rtc = types.SimpleNamespace(**{**vars(rtc), "AudioSource": DeepSource})  # type: ignore[assignment]  # a stand-in module, on purpose


class _NoRate:
    """A speaking-rate stream that estimates nothing: takes frames, yields no event once ended."""

    def __init__(self) -> None:
        self._ended = asyncio.Event()

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        pass

    def flush(self) -> None:
        pass

    def end_input(self) -> None:
        self._ended.set()

    async def aclose(self) -> None:
        self._ended.set()

    def __aiter__(self) -> _NoRate:
        return self

    async def __anext__(self) -> None:
        await self._ended.wait()
        raise StopAsyncIteration


def pace_transcripts_by_length() -> None:
    """Pace an agent's synced transcript by its line's average rate, without livekit-agents'
    speaking-rate estimate.

    That estimate (voice/transcription/_speaking_rate.py) runs a short-time Fourier transform on
    every 100 ms of a line's audio, in Python, on the job's event loop, as the audio arrives: a
    Realtime line arrives in a burst, and its loop stalled 0.1-0.9 s per line on a loaded 2-core
    machine (35 of 83 "event loop blocked" warnings at 8 rooms), which delays the audio of every
    line that loop plays. Without it the synchronizer paces words at the line's hyphens per second
    of audio (its own fallback, known once the line's text and audio are in). synthconv uses the
    synced text only where a line was cut (the text up to the cut), which moves by at most the
    uneven pacing within one line."""
    from livekit.agents.voice.transcription import synchronizer

    class NoRateDetector:
        def stream(self) -> _NoRate:
            return _NoRate()

    synchronizer.SpeakingRateDetector = NoRateDetector  # type: ignore[assignment,misc]  # a stand-in, on purpose


class CheckIn:
    """An agent that hears by VAD checks in when its peer stays silent STALL_S after its line.

    Its line may have been lost on the way: the peer's STT heard nothing in it, or its VAD missed
    the end, and both agents listen for ever (seen at 8 rooms of the OpenAI pipeline on 2 cores:
    5 rooms failed "nothing said or heard for 90 s"). Whoever spoke last asks the engine for a
    check-in ("Hello? Are you still there?"), at most twice until the peer speaks again; after that
    the observer's own stall fails the room, which is retried. A scheduled agent needs none: it
    hears its peer's announced lines, which are never lost."""

    ASKS = 2

    def __init__(self, session, call: CallControl, role: str) -> None:  # noqa: ANN001 - an AgentSession
        self.session, self.call, self.role = session, call, role
        self.ours = self.theirs = time.monotonic()  # when our last line, and the peer's speech, ended
        self.asked = 0
        session.on("user_state_changed", self._heard)

    def _heard(self, ev) -> None:  # noqa: ANN001
        self.theirs = time.monotonic()
        if ev.new_state == "speaking":
            self.asked = 0

    def said(self) -> None:
        self.ours = time.monotonic()

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            s, now = self.session, time.monotonic()
            if (s.agent_state == "listening" and s.user_state == "listening" and self.call.ending_role is None
                    and self.ours > self.theirs and now - self.ours >= STALL_S and self.asked < self.ASKS):
                self.asked += 1
                self.ours = now
                log.info("%s: the peer is silent %.0f s after our line: checking in", self.role, STALL_S)
                s.generate_reply(instructions=CHECK_IN)


async def watch_loop(period: float = 0.2, every: float = 1.0) -> None:
    """Report how late this job's event loop runs (its timers firing late: the process waits
    for CPU), the most in each `every` seconds, to the worker (worker_load.py)."""
    worst, since = 0.0, time.monotonic()
    while True:
        due = time.monotonic() + period
        await asyncio.sleep(period)
        now = time.monotonic()
        worst = max(worst, now - due)
        if now - since >= every:
            report_lag(worst)
            worst, since = 0.0, now


async def entrypoint(ctx: JobContext) -> None:
    deepen_audio_source()
    pace_transcripts_by_length()
    watcher = asyncio.get_running_loop().create_task(watch_loop())
    try:
        await _run(ctx)
    finally:
        watcher.cancel()


async def _run(ctx: JobContext) -> None:  # noqa: C901, PLR0915
    d = Dispatch.from_json(ctx.job.metadata)
    played, role = d.played, d.role
    job, scenario = played.job, played.scenario
    # loading models blocks; keep the job's event loop free for the room connection
    engine = await asyncio.to_thread(_engine, d.engine)
    peer_role = played.peer(role)
    peer_identity = identity(job.id, peer_role)
    observer = observer_identity(ctx.room.name)
    call = CallControl()
    turn_taking = d.timing.turn_taking
    tasks: set[asyncio.Task] = set()

    def spawn(coro) -> None:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def send(topic: str, body: dict, to_peer: bool = False) -> None:
        spawn(ctx.room.local_participant.send_text(
            json.dumps(body, ensure_ascii=False), topic=topic,
            destination_identities=[observer, peer_identity] if to_peer else [observer]))

    floor = None
    if engine.scheduled:
        timing = timing_model(turn_taking, job.seed, scenario, played.personas, stream=role)
        floor = Floor(timing, role, peer_role, call, job.seed,
                      announce=lambda line: send(LINE_TOPIC, line.to_dict(), to_peer=True),
                      heard=lambda of, text: send(HEARD_TOPIC, {"of": of, "text": text}))
    said_turns = [0]  # turns said so far: viewers read each from LINE_ATTR

    def show(text: str, cut: bool) -> None:
        said_turns[0] += 1
        line = json.dumps({"n": said_turns[0], "text": text, "cut": cut}, ensure_ascii=False)
        spawn(ctx.room.local_participant.set_attributes({LINE_ATTR: line}))

    lines = Lines(role, send, floor, show)
    peer_line = [-1]  # the id of the peer's latest line: what a transcript we make is of

    def on_line(reader: rtc.TextStreamReader, participant_identity: str) -> None:
        if participant_identity != peer_identity:
            return
        at = time.monotonic()  # as the line starts playing

        async def read() -> None:
            line = Line.from_dict(peer_role, json.loads(await reader.read_all()), at)
            if line.kind == "turn":
                peer_line[0] = line.id
            if floor is not None:
                floor.on_peer_line(line)

        spawn(read())

    def on_attributes(changed: dict[str, str], participant: rtc.Participant) -> None:
        if participant.identity == peer_identity and changed.get(ENDING_ATTR):
            call.end_after_turn(peer_role)

    def on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        # a scheduled agent hears announced lines, not audio: it subscribes to its peer's track
        # (a track starts playing only once a participant other than the hidden observer did)
        # and lets it go again, so nothing decodes audio nobody listens to
        if floor is not None and participant.identity == peer_identity:
            pub.set_subscribed(False)

    ctx.room.register_text_stream_handler(LINE_TOPIC, on_line)
    ctx.room.on("participant_attributes_changed", on_attributes)
    ctx.room.on("track_subscribed", on_track)
    await asyncio.wait_for(ctx.connect(), 30)

    async def peer_ready() -> None:
        while True:
            peer = ctx.room.remote_participants.get(peer_identity)
            if peer is not None and peer.attributes.get(READY_ATTR):
                log.info("%s: peer %s is listening", role, peer_identity)
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let its subscription to our track settle

    speaker = Speaker.of(played, role, heard=TranscriptChannel(), call=call, peer_ready=peer_ready,
                         turn_taking=turn_taking, barge_in=turn_taking == "natural", floor=floor)
    session, agent = engine.build(speaker)
    if floor is not None:
        floor.session = session
    done = asyncio.Event()
    goodbye = [False]  # our last line started playing

    @session.on("agent_state_changed")
    def _on_state(ev) -> None:  # noqa: ANN001
        log.debug("%s: %s -> %s", role, ev.old_state, ev.new_state)

    def playback_started() -> None:
        lines.started()
        # the first line to start once we said we end is the goodbye (no backchannel once the
        # call is ending; a line already playing when we decided started before)
        goodbye[0] = goodbye[0] or call.ending_role == role
        log.debug("%s: playback started (ending: %s, goodbye: %s)", role, call.ending_role, goodbye[0])

    check_in = CheckIn(session, call, role) if floor is None else None

    def playback_finished(played: float, interrupted: bool) -> None:
        lines.finished_playing(played, interrupted)
        if check_in is not None:
            check_in.said()
        log.debug("%s: playback finished after %.2f s%s", role, played, " (cut)" if interrupted else "")
        if goodbye[0]:  # played out, or cut off by the peer (its state then goes to thinking, not listening)
            done.set()

    def announce_ending(ending: str) -> None:  # tell the peer before it hears the goodbye
        log.debug("%s: %s ends the call (%s)", role, ending, call.ending_reason)
        if ending == role:
            asyncio.get_running_loop().create_task(ctx.room.local_participant.set_attributes({ENDING_ATTR: "1"}))

    call.listeners.append(announce_ending)

    def announce_failure(error: BaseException) -> None:  # the orchestrator fails the job with it
        kind = "transient" if transient(error) else "final"
        asyncio.get_running_loop().create_task(
            ctx.room.local_participant.set_attributes({FAILED_ATTR: f"{kind}: {error}"[:500]}))
        done.set()

    call.failure_listeners.append(announce_failure)

    @session.on("conversation_item_added")
    def _on_item(ev) -> None:  # noqa: ANN001
        said = (ev.item.text_content or "").strip() if isinstance(ev.item, llm.ChatMessage) else ""
        if isinstance(ev.item, llm.ChatMessage) and ev.item.role == "assistant" and said:
            if ev.item.interrupted:  # the peer cut in: the next line repairs what got out
                call.interrupted[role] = said
            lines.item(said, bool(ev.item.interrupted), (getattr(agent, "intended", "") or said).strip())

    @session.on("user_input_transcribed")
    def _on_heard(ev) -> None:  # noqa: ANN001
        if ev.is_final and ev.transcript.strip() and peer_line[0] >= 0:
            send(HEARD_TOPIC, {"of": peer_line[0], "text": ev.transcript.strip()})

    session.on("error", lambda ev: log.warning("%s: session error %s", role, ev))

    # wait for the peer to join, then link to it explicitly
    while peer_identity not in ctx.room.remote_participants:
        await asyncio.sleep(0.05)
    tts_rate = session.tts.sample_rate if floor is not None and session.tts is not None else 24000
    await session.start(agent=agent, room=ctx.room, room_options=link_options(peer_identity, floor is not None, tts_rate))
    audio_out = session.output.audio
    if audio_out is None:
        raise RuntimeError(f"{role}: the session started without an audio output")
    audio_out.on("playback_started", lambda _ev: playback_started())
    audio_out.on("playback_finished", lambda ev: playback_finished(ev.playback_position, ev.interrupted))
    await ctx.room.local_participant.set_attributes({READY_ATTR: "1"})
    log.info("%s: session started in %s, linked to %s", role, ctx.room.name, peer_identity)
    if check_in is not None:
        spawn(check_in.watch())
    await done.wait()
    if call.error is not None:
        log.warning("%s: gave up: %s", role, call.error)
        return
    if floor is not None:  # a line of the peer's over our goodbye plays out before the call ends
        await asyncio.sleep(max(0.0, floor.peer_until - time.monotonic()))
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
    VadLag.install()
    _engine(EngineSpec(name=os.environ.get(PRELOAD_ENV, "offline")))


def make_server(url: str, api_key: str, api_secret: str, *, idle_processes: int = 2,
                load_threshold: float = LOAD_THRESHOLD, max_jobs: int | None = None, entry=entrypoint,
                request=on_request) -> AgentServer:  # noqa: ANN001 - tests swap in faults
    """An AgentServer taking synthconv dispatches, each agent in a job process of its own.

    Processes, not threads: every agent has its own GIL (the engine's models are CPU-bound),
    and one room connect per process sidesteps an FFI race seen when two jobs of one process
    connected at once. `idle_processes` are kept prewarmed with the models loaded (fewer while
    the worker is loaded: livekit-agents keeps only as many as its free load has room for).

    The worker reports its job processes' saturation as its load (worker_load.py) and takes no
    job at or above `load_threshold`: livekit-server then offers the job to another worker, or
    drops it, and `generate` keeps that room waiting until some worker has room.
    """
    import atexit
    import shutil

    os.environ[WORKER_PID_ENV] = str(os.getpid())  # job processes inherit it (see prewarm)
    state = state_dir()  # job processes inherit its name, and report their lag there
    atexit.register(shutil.rmtree, state, ignore_errors=True)
    measure = WorkerLoad(max_jobs=max_jobs, state=state, machine=machine_busy)
    logged = [0.0]

    def job_load(server: AgentServer) -> float:
        pool = getattr(server, "_proc_pool", None)  # livekit-agents 1.8: the job executors and their pids
        jobs = [p.pid for p in (pool.processes if pool else []) if p.running_job and p.pid]
        load = measure(jobs)
        if time.monotonic() - logged[0] > 15:
            logged[0] = time.monotonic()
            log.info("load %s", measure.last)
        return load

    server = AgentServer(
        ws_url=url, api_key=api_key, api_secret=api_secret,
        job_executor_type=JobExecutorType.PROCESS,
        num_idle_processes=idle_processes,
        setup_fnc=prewarm,
        initialize_process_timeout=120,  # loading models while other rooms run
        load_threshold=load_threshold,
        load_fnc=job_load,
        port=0,
    )
    server.rtc_session(entry, agent_name=AGENT_NAME, on_request=request)
    return server
