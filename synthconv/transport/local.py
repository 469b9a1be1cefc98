"""The local transport: both AgentSessions in one process, joined by an in-process audio bridge.

The bridge owns the conversation's one sample clock. When a speaker's segment is complete it is
placed on that clock after a gap drawn from a seeded timing model, written into the speaker's
track, and handed to the listener as audio frames (plus enough trailing silence for its VAD to
close the turn) together with the words that were spoken, the way a LiveKit agent publishes a
transcription next to its audio. Nothing waits for wall-clock playback, so a conversation runs
as fast as the machine allows and compute latency never shows up as silence.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from ..engine.base import CallControl, Engine, Speaker, TranscriptChannel
from ..job import Job
from ..recorder import Recording, Turn
from ..scenario import Library, draw_facts

SAMPLE_RATE = 24000
FRAME = SAMPLE_RATE // 10  # 100 ms: fewer, larger frames cost less per second of audio
LISTEN_TAIL_S = 0.8  # silence after each utterance: > the VAD's 0.6 s end-of-speech silence
# how long the last line may take to be heard: a recognizer on a busy machine takes seconds, and a
# final turn cut off before it is heard would make a seed's transcript depend on the machine's load
FINAL_HEARD_S = 20.0


class TimingModel:
    """Seeded gaps between turns: mostly 0.2-0.5 s, never below 0.15 s nor above 0.8 s."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}:timing")

    def gap(self) -> float:
        return min(0.8, max(0.15, self._rng.lognormvariate(-1.1, 0.4)))

    def lead_in(self) -> float:
        return self._rng.uniform(0.2, 0.5)

    def tail(self) -> float:
        return self._rng.uniform(0.4, 0.8)


class _Input(io.AudioInput):
    """What one role hears: the peer's audio frames, pushed as soon as the peer's segment ends."""

    def __init__(self, role: str) -> None:
        super().__init__(label=f"bridge-in:{role}")
        self._frames: deque[rtc.AudioFrame] = deque()
        self._arrived = asyncio.Event()
        self._closed = False

    def push(self, pcm: np.ndarray) -> None:
        pcm = np.concatenate([pcm, np.zeros(int(LISTEN_TAIL_S * SAMPLE_RATE), np.int16)])
        for i in range(0, len(pcm), FRAME):
            chunk = pcm[i : i + FRAME]
            if len(chunk) < FRAME:
                chunk = np.pad(chunk, (0, FRAME - len(chunk)))
            self._frames.append(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, FRAME))
        self._arrived.set()

    def close(self) -> None:
        self._closed = True
        self._arrived.set()

    async def __anext__(self) -> rtc.AudioFrame:
        while not self._frames:
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._frames.popleft()


class _Text(io.TextOutput):
    """Collects the words of each reply; one completed text per spoken segment."""

    def __init__(self, role: str) -> None:
        super().__init__(label=f"bridge-text:{role}", next_in_chain=None)
        self._current: list[str] = []
        self.done: asyncio.Queue[str] = asyncio.Queue()

    async def capture_text(self, text: str) -> None:
        self._current.append(text)

    def flush(self) -> None:
        text = "".join(self._current).strip()
        self._current = []
        if text:
            self.done.put_nowait(text)


class _Output(io.AudioOutput):
    """A speaker's 'loudspeaker': collects a segment, then lets the bridge play it instantly."""

    def __init__(self, bridge: Bridge, role: str) -> None:
        # Any input rate: the whole segment is resampled at once in flush(), so its length in
        # samples never depends on how the TTS happened to chunk its frames (determinism).
        super().__init__(label=f"bridge-out:{role}", capabilities=io.AudioOutputCapabilities(pause=False))
        self._bridge = bridge
        self._role = role
        self._segment: list[np.ndarray] = []
        self._tasks: set[asyncio.Task] = set()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._segment:
            self.on_playback_started(created_at=time.time())
        self._segment.append(np.frombuffer(frame.data, dtype=np.int16).copy())
        self._rate = frame.sample_rate

    def flush(self) -> None:
        super().flush()
        if not self._segment:
            return
        pcm, self._segment = _resample(np.concatenate(self._segment), self._rate), []
        task = asyncio.create_task(self._play(pcm))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, pcm: np.ndarray) -> None:
        try:
            await self._bridge.play(self._role, pcm)
        finally:
            self.on_playback_finished(playback_position=len(pcm) / SAMPLE_RATE, interrupted=False)

    def clear_buffer(self) -> None:
        if self._segment:
            self._segment = []
            self.on_playback_finished(playback_position=0.0, interrupted=True)


def _resample(pcm: np.ndarray, rate: int, taps: int = 16) -> np.ndarray:
    """Polyphase windowed-sinc resampling to SAMPLE_RATE in numpy.

    livekit's AudioResampler output differs by a couple of LSB from one call to the next on the
    same input; this one is a pure function, so a seed's tracks repeat sample for sample.
    """
    if rate == SAMPLE_RATE or len(pcm) == 0:
        return pcm
    g = math.gcd(SAMPLE_RATE, rate)
    up, down = SAMPLE_RATE // g, rate // g
    cutoff = min(1.0, up / down) * 0.95  # stay below the lower of the two Nyquist frequencies
    # one kernel per output phase: output j sits at input position j*down/up
    dist = np.arange(up)[:, None] / up + (taps - 1) - np.arange(2 * taps)[None, :]
    table = cutoff * np.sinc(cutoff * dist) * (0.5 + 0.5 * np.cos(np.pi * np.clip(dist / taps, -1, 1)))
    n_out = len(pcm) * up // down
    j = np.arange(n_out, dtype=np.int64)
    first = (j * down) // up - taps + 1 + taps  # + taps: the padding below
    x = np.pad(pcm.astype(np.float32), (taps, taps + 1))
    gathered = x[first[:, None] + np.arange(2 * taps)[None, :]]
    out = np.einsum("ij,ij->i", gathered, table[(j * down) % up].astype(np.float32))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


class Bridge:
    """One conversation's shared clock, tracks and routing between the two roles."""

    def __init__(self, job: Job, library: Library) -> None:
        self.job = job
        self.scenario = library.scenarios[job.scenario]
        self.personas = {r: library.personas[p] for r, p in job.roles.items()}
        self.roles = self.scenario.role_keys
        self.timing = TimingModel(job.seed)
        self.call = CallControl()
        self.heard = {r: TranscriptChannel() for r in self.roles}
        self.inputs = {r: _Input(r) for r in self.roles}
        self.outputs = {r: _Output(self, r) for r in self.roles}
        self.texts = {r: _Text(r) for r in self.roles}
        self._segments: dict[str, list[tuple[int, np.ndarray]]] = {r: [] for r in self.roles}
        self.turns: list[Turn] = []
        self._cursor = 0  # samples: where the last placed audio ends
        self.finished = asyncio.Event()
        self._final_heard = asyncio.Event()

    def peer(self, role: str) -> str:
        return self.roles[1] if role == self.roles[0] else self.roles[0]

    async def play(self, role: str, pcm: np.ndarray) -> None:
        """Place a finished segment on the clock and deliver it, with its words, to the peer."""
        try:
            text = await asyncio.wait_for(self.texts[role].done.get(), timeout=5.0)
        except asyncio.TimeoutError:
            text = ""
        if self.call.ended:
            return  # spoken after the call ended: never recorded, never heard
        gap = self.timing.lead_in() if not self.turns else self.timing.gap()
        start = self._cursor + int(gap * SAMPLE_RATE)
        self._segments[role].append((start, pcm))
        self._cursor = start + len(pcm)
        self.turns.append(
            Turn(
                turn=len(self.turns),
                role=role,
                speaker=self.personas[role].name,
                text=text,
                start=round(start / SAMPLE_RATE, 3),
                end=round(self._cursor / SAMPLE_RATE, 3),
                interrupted=False,
                heard=None,
            )
        )
        peer = self.peer(role)
        self.heard[peer].put(text)
        self.inputs[peer].push(pcm)
        if self.call.ending_role == role or len(self.turns) >= self.scenario.turns.max + 2:
            self.call.end_after_turn(role)
            asyncio.get_running_loop().call_soon(self._finish_after_heard)

    def _finish_after_heard(self) -> None:
        async def wait() -> None:
            try:
                await asyncio.wait_for(self._final_heard.wait(), timeout=FINAL_HEARD_S)
            except asyncio.TimeoutError:
                pass
            self.call.finish()
            self.finished.set()

        self._finish_task = asyncio.create_task(wait())

    def on_heard(self, listener: str, transcript: str) -> None:
        """The listener's STT produced a final transcript: attach it to the peer's last turn."""
        speaker = self.peer(listener)
        for turn in reversed(self.turns):
            if turn.role == speaker:
                turn.heard = transcript if turn.heard is None else f"{turn.heard} {transcript}"
                if self.call.ending_role == speaker and turn is self.turns[-1]:
                    self._final_heard.set()
                break

    def recording(self) -> Recording:
        length = self._cursor + int(self.timing.tail() * SAMPLE_RATE)
        tracks = {}
        for role in self.roles:
            track = np.zeros(length, dtype=np.int16)
            for start, pcm in self._segments[role]:
                track[start : start + len(pcm)] = pcm
            tracks[role] = track
        return Recording(sample_rate=SAMPLE_RATE, tracks=tracks, turns=self.turns, timing="modeled")


async def converse(job: Job, library: Library, engine: Engine, timeout: float = 300.0) -> Recording:
    """Run one conversation of `job` on the local bridge and return its recording."""
    bridge = Bridge(job, library)
    bridge.call.failure_listeners.append(lambda _error: bridge.finished.set())
    facts = draw_facts(bridge.scenario, job.seed)
    sessions: list[tuple] = []
    try:
        for role in bridge.roles:
            speaker = Speaker(
                job=job,
                role=role,
                scenario=bridge.scenario,
                persona=bridge.personas[role],
                peer_role=bridge.peer(role),
                facts=facts[role],
                heard=bridge.heard[role],
                call=bridge.call,
            )
            session, agent = engine.build(speaker)
            session.input.audio = bridge.inputs[role]
            session.output.audio = bridge.outputs[role]
            session.output.transcription = bridge.texts[role]

            def on_transcribed(ev, role: str = role) -> None:  # noqa: ANN001
                if ev.is_final and ev.transcript.strip():
                    bridge.on_heard(role, ev.transcript.strip())

            session.on("user_input_transcribed", on_transcribed)
            sessions.append((session, agent))
        # the listener starts first so it is listening when the opener speaks
        for session, agent in reversed(sessions):
            await session.start(agent=agent)
        try:
            await asyncio.wait_for(bridge.finished.wait(), timeout=timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"conversation did not end within {timeout:g} s "
                               f"({len(bridge.turns)} turns)") from None
        if bridge.call.error is not None:
            raise bridge.call.error
    finally:
        bridge.call.finish()
        for inp in bridge.inputs.values():
            inp.close()
        await asyncio.gather(*(session.aclose() for session, _ in sessions))
    return bridge.recording()
