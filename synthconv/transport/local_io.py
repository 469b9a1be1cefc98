"""The local bridge's ears, mouth and transcript: livekit-agents io classes over plain numpy.

Each role's AgentSession reads the peer's audio from an `AudioInput`, speaks into an
`AudioOutput` and writes its words to a `TextOutput`; here those hand whole segments to the
bridge (transport/local.py), which owns the clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
from livekit import rtc
from livekit.agents.types import TimedString
from livekit.agents.utils import is_given
from livekit.agents.voice import io

from ..recording import Word

SAMPLE_RATE = 24000
FRAME = SAMPLE_RATE // 10  # 100 ms: fewer, larger frames cost less per second of audio
LISTEN_TAIL_S = 1.2  # silence after each utterance: > the VAD's end-of-speech silence (0.9 s offline)


class BridgeInput(io.AudioInput):
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


class BridgeText(io.TextOutput):
    """Collects the words of each reply; one completed (text, word spans) per spoken segment.

    With a TTS that reports word timing (the session's TTS-aligned transcript), the text arrives
    as `TimedString`s timed from the segment's start; otherwise the words are None."""

    def __init__(self, role: str) -> None:
        super().__init__(label=f"bridge-text:{role}", next_in_chain=None)
        self._current: list[str] = []
        self._words: list[Word] = []
        self.done: asyncio.Queue[tuple[str, list[Word] | None]] = asyncio.Queue()

    async def capture_text(self, text: str) -> None:
        self._current.append(text)
        if isinstance(text, TimedString) and is_given(text.start_time) and is_given(text.end_time):
            self._words.append(Word(text.strip(), float(text.start_time), float(text.end_time)))

    def flush(self) -> None:
        text = "".join(self._current).strip()
        words, self._current, self._words = self._words or None, [], []
        if text:
            self.done.put_nowait((text, words))


class BridgeOutput(io.AudioOutput):
    """A speaker's 'loudspeaker': collects a segment, then lets the bridge play it instantly."""

    def __init__(self, play: Callable[[str, np.ndarray], Awaitable[tuple[float, bool]]], role: str) -> None:
        # Any input rate: the whole segment is resampled at once in flush(), so its length in
        # samples never depends on how the TTS happened to chunk its frames (determinism).
        super().__init__(label=f"bridge-out:{role}", capabilities=io.AudioOutputCapabilities(pause=False))
        self._play_on_bridge = play  # places the segment; returns (seconds played, interrupted)
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
        pcm, self._segment = resample(np.concatenate(self._segment), self._rate), []
        task = asyncio.create_task(self._play(pcm))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, pcm: np.ndarray) -> None:
        played, interrupted = len(pcm) / SAMPLE_RATE, False
        try:
            played, interrupted = await self._play_on_bridge(self._role, pcm)
        finally:
            self.on_playback_finished(playback_position=played, interrupted=interrupted)

    def clear_buffer(self) -> None:
        if self._segment:
            self._segment = []
            self.on_playback_finished(playback_position=0.0, interrupted=True)


def resample(pcm: np.ndarray, rate: int, taps: int = 16) -> np.ndarray:
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
