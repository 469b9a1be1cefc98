"""Any offline voice (espeak-ng in tts.py, Piper in piper.py) as a livekit-agents TTS plugin.

The voice reports each word's span in its audio; the TTS hands them to livekit-agents as
`TimedString`s (its TTS-aligned transcript), so every word of a turn gets the speaking engine's
own timing. It is a streaming TTS only so that the framework does not wrap it in its
sentence-by-sentence StreamAdapter, which drops word timings: the stream collects a reply's
text and, at each flush, speaks it part by part (espeak-ng: whole; Piper: sentence by sentence,
each pushed as soon as it is made).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Protocol

import numpy as np
from livekit.agents import APIConnectOptions, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, TimedString

from .plugin import OfflinePlugin
from .tts import Word


class Speech(Protocol):
    """One persona's voice, as the offline TTS drives it (espeak-ng here, Piper in piper.py)."""

    model: str
    sample_rate: int

    def parts(self, text: str) -> Iterator[tuple[np.ndarray, list[Word]]]:
        """`text` spoken, in parts: int16 mono samples and their words (times from the part's start)."""
        ...



class OfflineTTS(OfflinePlugin, tts.TTS):
    """A livekit-agents TTS plugin speaking with one persona's offline voice."""

    def __init__(self, speech: Speech) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=True),
            sample_rate=speech.sample_rate,
            num_channels=1,
        )
        self.speech = speech

    @property
    def model(self) -> str:
        return self.speech.model

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _OfflineStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> tts.SynthesizeStream:
        return _OfflineSynthesizeStream(tts=self, conn_options=conn_options)


async def _speak(speech: Speech, text: str, emitter: tts.AudioEmitter, spoken: float = 0.0) -> float:
    """Push `text`'s parts as each is made (a slow voice makes them in a worker thread), each with
    its words, spaced as livekit joins transcript deltas and timed from `spoken` seconds into the
    segment; returns the seconds spoken after it."""
    parts = speech.parts(text)
    while (part := await asyncio.to_thread(next, parts, None)) is not None:
        pcm, words = part
        emitter.push_timed_transcript(
            [TimedString(f"{w.word} ", start_time=spoken + w.start, end_time=spoken + w.end) for w in words])
        emitter.push(pcm.tobytes())
        spoken += len(pcm) / speech.sample_rate
    emitter.flush()
    return spoken


class _OfflineStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine: OfflineTTS = self._tts  # type: ignore[assignment]
        output_emitter.initialize(request_id=uuid.uuid4().hex[:12], sample_rate=engine.speech.sample_rate,
                                  num_channels=1, mime_type="audio/pcm")
        await _speak(engine.speech, self.input_text, output_emitter)


class _OfflineSynthesizeStream(tts.SynthesizeStream):
    """A reply's text as it streams in, spoken at each flush with its word timings."""

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine: OfflineTTS = self._tts  # type: ignore[assignment]
        output_emitter.initialize(request_id=uuid.uuid4().hex[:12], sample_rate=engine.speech.sample_rate,
                                  num_channels=1, mime_type="audio/pcm", stream=True)
        output_emitter.start_segment(segment_id=uuid.uuid4().hex[:12])
        text: list[str] = []
        spoken = 0.0  # seconds already spoken in this segment

        async def speak() -> None:
            nonlocal spoken
            line = "".join(text).strip()
            text.clear()
            if line:
                spoken = await _speak(engine.speech, line, output_emitter, spoken)

        async for data in self._input_ch:
            if isinstance(data, self._FlushSentinel):
                await speak()
            else:
                text.append(data)
        await speak()
