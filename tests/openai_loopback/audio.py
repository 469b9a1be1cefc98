"""Real audio for the loopback OpenAI server: espeak-ng speech, encodings, and "recognition".

Speech comes from the project's espeak-ng wrapper, resampled to 24 kHz (the rate the OpenAI
speech and Realtime APIs use). Every clip the server speaks is remembered with its text; a
transcription request is answered with the text of the remembered clip whose loudness envelope
correlates best with the uploaded audio, so `heard` is what was really in the audio the
listener's STT was handed, not a side channel.
"""

from __future__ import annotations

import io
import subprocess
import threading
import wave
import zlib
from collections import deque

import numpy as np

from synthconv.engine.offline.tts import Espeak
from synthconv.runfolder.audio import ffmpeg_exe
from synthconv.scenario import OfflineVoice
from synthconv.transport.local_io import resample as _resample

RATE = 24000
BLOCK = RATE // 50  # 20 ms envelope blocks
NOISE_RMS = 60.0  # envelope floor

# OpenAI voice name -> an espeak-ng voice (so two personas sound different, as with OpenAI)
VOICES = {
    "alloy": ("en-us+m3", 170, 50), "ash": ("en-us+m1", 165, 42), "ballad": ("en-gb-x-rp+m2", 160, 48),
    "coral": ("en-us+f2", 170, 62), "echo": ("en-us+m4", 168, 40), "fable": ("en-gb-x-rp+f3", 165, 58),
    "nova": ("en-us+f4", 175, 60), "onyx": ("en-us+m7", 160, 35), "sage": ("en-us+f3", 168, 55),
    "shimmer": ("en-us+f1", 172, 64), "verse": ("en-us+m2", 170, 46), "marin": ("en-us+f5", 170, 58),
    "cedar": ("en-us+m6", 165, 44),
}


def espeak_voice(name: str, text: str) -> OfflineVoice:
    voice, rate, pitch = VOICES.get(name, ("en-us+m3", 170, 50))
    if any("\u0900" <= c <= "\u097f" for c in text):  # Devanagari: speak Hindi
        voice = "hi+" + voice.split("+")[1]
    return OfflineVoice(voice=voice, rate=rate, pitch=pitch, range=50)


def synthesize(text: str, voice: str, speed: float = 1.0) -> np.ndarray:
    """int16 mono samples at 24 kHz."""
    v = espeak_voice(voice, text)
    if speed and speed != 1.0:
        v = v.model_copy(update={"rate": max(80, min(400, int(v.rate * speed)))})
    espeak = Espeak.get()
    return _resample(espeak.synthesize(text, v), espeak.sample_rate)


def encode(pcm: np.ndarray, fmt: str) -> tuple[bytes, str]:
    """The bytes and content type of `pcm` (24 kHz mono int16) in an OpenAI response_format."""
    if fmt == "pcm":
        return pcm.astype("<i2").tobytes(), "audio/pcm"
    if fmt == "wav":
        return wav_bytes(pcm, RATE), "audio/wav"
    codec = {"mp3": (["-f", "mp3", "-b:a", "64k"], "audio/mpeg"),
             "opus": (["-f", "ogg", "-c:a", "libopus"], "audio/opus"),
             "aac": (["-f", "adts"], "audio/aac"),
             "flac": (["-f", "flac"], "audio/flac")}.get(fmt)
    if codec is None:
        raise ValueError(f"unsupported response_format {fmt!r}")
    args, ctype = codec
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "-",
                           *args, "-"], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True)
    return proc.stdout, ctype


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def decode_upload(data: bytes) -> np.ndarray:
    """An uploaded audio file (wav, or anything ffmpeg reads) as 24 kHz mono int16."""
    if data[:4] == b"RIFF":
        with wave.open(io.BytesIO(data)) as w:
            ch, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
        if width == 2:
            pcm = np.frombuffer(raw, dtype="<i2")
            if ch > 1:
                pcm = pcm.reshape(-1, ch).mean(axis=1).astype(np.int16)
            return _resample(pcm, rate)
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", "-", "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
                          input=data, capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype="<i2")


def envelope(pcm: np.ndarray) -> np.ndarray:
    n = len(pcm) // BLOCK * BLOCK
    if n == 0:
        return np.zeros(0)
    blocks = pcm[:n].astype(np.float32).reshape(-1, BLOCK)
    # gated: audio that crossed a LiveKit room comes back with codec noise where the clip had
    # digital silence, which otherwise weighs as much in the match as the words
    return np.log1p(np.maximum(np.sqrt((blocks ** 2).mean(axis=1)) - NOISE_RMS, 0.0))


def is_silent(pcm: np.ndarray) -> bool:
    return len(pcm) == 0 or np.abs(pcm.astype(np.int32)).max() <= 200


class ClipStore:
    """What the server said, so what it hears can be recognised. Thread-safe."""

    def __init__(self, keep: int = 400) -> None:
        self._clips: deque[tuple[np.ndarray, str]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, pcm: np.ndarray, text: str) -> None:
        with self._lock:
            self._clips.append((envelope(pcm), text))

    def recognize(self, pcm: np.ndarray) -> str:
        """The words in `pcm`: the remembered clips found in it, in order ("" for silence).

        A turn is often several clips (a TTS request per sentence), and a VAD may cut one clip
        in two: clips found inside the audio are joined in order; failing that, the clip that
        contains the audio is the answer."""
        if is_silent(pcm):
            return ""
        # the clips' block grid need not line up with the upload's: try four sub-block offsets
        envs = [envelope(pcm[off:]) for off in range(0, BLOCK, BLOCK // 4)]
        env = envs[0]
        with self._lock:
            clips = list(self._clips)[-200:]
        found = []  # (start, end, score, text)
        best_containing, best_text = 0.0, ""
        for clip, text in clips:
            if len(clip) < 5:
                continue
            if len(clip) <= len(env) * 1.1:
                pos, score = max((_slide(clip, e) for e in envs), key=lambda r: r[1])
                if score > 0.85:
                    found.append((pos, pos + len(clip), score, text))
            else:
                _, score = _slide(env, clip)
                score *= min(1.0, len(env) / len(clip)) ** 0.25
                if score > best_containing:
                    best_containing, best_text = score, text
        chosen: list[tuple] = []
        for f in sorted(found, key=lambda f: (f[2] * (f[1] - f[0])), reverse=True):
            if all(min(f[1], c[1]) - max(f[0], c[0]) < 0.15 * (f[1] - f[0]) for c in chosen):
                chosen.append(f)
        if chosen:
            return " ".join(c[3] for c in sorted(chosen))
        return best_text if best_containing > 0.8 else ""


def _slide(short: np.ndarray, long_: np.ndarray) -> tuple[int, float]:
    """Where `short` fits best along `long_` (padded, so it may hang over an edge a little) and
    the normalised correlation there."""
    pad = len(short) // 8
    padded = np.pad(long_, (pad, pad))
    if len(padded) < len(short):
        return 0, 0.0
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(short))
    s = short - short.mean()
    w = windows - windows.mean(axis=1, keepdims=True)
    corr = (w @ s) / (np.sqrt((s ** 2).sum() * (w ** 2).sum(axis=1)) + 1e-9)
    i = int(corr.argmax())
    return i - pad, float(corr[i])


def text_seed(text: str) -> int:
    return zlib.crc32(text.encode())


def hear(pcm: np.ndarray) -> str:
    """What Whisper tiny.en (the offline engine's recognizer) hears in 24 kHz int16 `pcm`."""
    from synthconv.engine.offline.whisper import Whisper, to_16k, trim

    return "" if is_silent(pcm) else Whisper.get().transcribe(to_16k(trim(pcm, RATE), RATE))
