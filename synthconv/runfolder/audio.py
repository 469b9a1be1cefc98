"""The audio files of a conversation: 16-bit mono WAV tracks and their MP3 mix.

The mix is made with pydub, using the ffmpeg binary that ships in the imageio-ffmpeg wheel (no
system package needed). `SILENT` is what the contract calls silence; the transports use it to
find speech, and `inspect` to check that every turn brackets its speech.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

SILENT = 64  # |sample| at or below this counts as silence (-54 dBFS)
EDGE_S = 0.01  # timestamps are rounded to the millisecond; allow 10 ms at each edge


def loud(pcm: np.ndarray) -> np.ndarray:
    """Where `pcm` is speech rather than silence (a boolean per sample)."""
    return np.abs(pcm.astype(np.int32)) > SILENT


def speech_regions(pcm: np.ndarray, rate: int, gap_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech in `pcm`, pauses under `gap_s` bridged;
    `end` is just after the last loud sample."""
    speech = np.flatnonzero(loud(pcm))
    if not len(speech):
        return []
    breaks = np.flatnonzero(np.diff(speech) > gap_s * rate)
    firsts = np.concatenate([[speech[0]], speech[breaks + 1]])
    lasts = np.concatenate([speech[breaks], [speech[-1]]])
    return [(float(a) / rate, float(b + 1) / rate) for a, b in zip(firsts, lasts)]


def stray_speech(pcm: np.ndarray, spans: list[tuple[float, float]], rate: int) -> float | None:
    """The first second of speech in `pcm` outside every (start, end) span (EDGE_S allowed at
    each edge), or None: a track's speech that no turn of its role accounts for."""
    inside = np.zeros(len(pcm), dtype=bool)
    for start, end in spans:
        inside[max(0, int((start - EDGE_S) * rate)): int((end + EDGE_S) * rate)] = True
    stray = np.flatnonzero(loud(pcm) & ~inside)
    return stray[0] / rate if len(stray) else None


def write_wav(path: Path, pcm: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit track; ValueError naming the file when it is not one (wave's own errors,
    and the EOFError of a truncated header, say neither which file nor that it is bad input)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise ValueError(f"{path}: not mono 16-bit PCM")
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a readable WAV file ({str(e) or 'truncated'})") from None


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def mix_mp3(track_paths: list[Path], out: Path, bitrate: str = "64k") -> None:
    """Overlay the per-role WAV tracks into one mono MP3."""
    import warnings

    with warnings.catch_warnings():  # pydub warns at import when no ffmpeg is on PATH
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    mixed = None
    for p in track_paths:
        seg = AudioSegment.from_wav(p)
        mixed = seg if mixed is None else mixed.overlay(seg)
    assert mixed is not None
    mixed.export(out, format="mp3", bitrate=bitrate)


def stereo_mp3(track_paths: list[Path], out: Path, bitrate: str = "96k") -> None:
    """Two role tracks as one stereo MP3, a role per channel in the order given (the scenario's
    role order: left, right), for diarization and for listening."""
    if len(track_paths) != 2:
        raise ValueError(f"a stereo mix needs two tracks, got {len(track_paths)}")
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(track_paths[0]), "-i", str(track_paths[1]),
           "-filter_complex", "[0:a][1:a]join=inputs=2:channel_layout=stereo[a]", "-map", "[a]",
           "-c:a", "libmp3lame", "-b:a", bitrate, "-compression_level", "7", str(out)]  # lame -q 7: half the time of -q 5
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make {out.name}: {proc.stderr.decode(errors='replace').strip()[-300:]}")


def mp3_duration(path: Path) -> float:
    """Decode the whole MP3 with the bundled ffmpeg and return its length in seconds."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        capture_output=True, check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise ValueError(proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or "no audio")
    return len(proc.stdout) / 2 / 16000
