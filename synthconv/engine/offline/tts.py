"""Speaking without a network: espeak-ng (from the `espeakng-loader` wheel) as a livekit TTS.

The `Espeak` wrapper is a per-process singleton with one lock: the library is not reentrant, so
one call at a time loads it afresh (for determinism, see `Espeak`), sets the voice, rate and
pitch it needs, synthesizes and unloads it again. It is fast (several hundred times real time,
about 15 ms to load), so synthesis runs inline rather than in a thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

import _ctypes
import uuid

import numpy as np
from livekit.agents import APIConnectOptions, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from ...scenario import OfflineVoice
from .plugin import OfflinePlugin

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """espeak-ng, loaded afresh for every utterance.

    espeak-ng keeps pitch state in static variables from one synthesis to the next, so the same
    words came out a few samples longer or shorter depending on what the process said before.
    Loading the library for each utterance (about 15 ms) makes the audio a function of the text
    and voice alone, which keeps runs of one seed identical sample for sample.
    """

    _instance: Espeak | None = None
    _create_lock = threading.Lock()
    _lock = threading.Lock()  # one synthesis at a time: the library is not reentrant

    def __init__(self) -> None:
        import espeakng_loader

        self._path = espeakng_loader.get_library_path()
        self._data = espeakng_loader.get_data_path().encode()
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        with self._lock, self._open() as lib:
            self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")

    @classmethod
    def get(cls) -> Espeak:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @contextlib.contextmanager
    def _open(self) -> Iterator[ctypes.CDLL]:
        """A freshly loaded, initialised library, unloaded again afterwards (hold the lock)."""
        lib = ctypes.CDLL(self._path)
        try:
            lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data, 0)
            lib.espeak_SetSynthCallback(self._callback)
            yield lib
        finally:
            lib.espeak_Terminate()
            handle = lib._handle
            del lib
            _ctypes.dlclose(handle)

    def _on_audio(self, wav, n: int, _events) -> int:  # noqa: ANN001 - ctypes callback
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def has_voice(self, name: str) -> bool:
        with self._lock, self._open() as lib:
            return lib.espeak_SetVoiceByName(name.encode()) == 0

    def synthesize(self, text: str, voice: OfflineVoice) -> np.ndarray:
        """Return int16 mono samples at `sample_rate` for `text`."""
        data = text.encode("utf-8")
        with self._lock, self._open() as lib:
            if lib.espeak_SetVoiceByName(voice.voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice.voice!r}")
            lib.espeak_SetParameter(_RATE, voice.rate, 0)
            lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
            lib.espeak_SetParameter(_RANGE, voice.range, 0)
            self._chunks = []
            lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


class EspeakTTS(OfflinePlugin, tts.TTS):
    """A livekit-agents TTS plugin speaking with one persona's espeak-ng voice."""

    MODEL = "espeak-ng"

    def __init__(self, voice: OfflineVoice) -> None:
        self._espeak = Espeak.get()
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=self._espeak.sample_rate,
            num_channels=1,
        )
        self.voice = voice

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _EspeakStream(tts=self, input_text=text, conn_options=conn_options)


class _EspeakStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine: EspeakTTS = self._tts  # type: ignore[assignment]
        pcm = engine._espeak.synthesize(self.input_text, engine.voice)
        output_emitter.initialize(
            request_id=uuid.uuid4().hex[:12],
            sample_rate=engine._espeak.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        output_emitter.push(pcm.tobytes())
        output_emitter.flush()
