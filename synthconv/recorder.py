"""The recorder: one conversation's tracks and turns, written as the run folder contract says.

Tracks are written first; the MP3 mix is made from them afterwards with pydub, using the ffmpeg
binary that ships in the imageio-ffmpeg wheel (no system package needed).
"""

from __future__ import annotations

import json
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Turn:
    turn: int
    role: str
    speaker: str
    text: str
    start: float  # seconds from conversation start
    end: float
    interrupted: bool
    heard: str | None  # what the listener's STT made of it


@dataclass
class Recording:
    sample_rate: int
    tracks: dict[str, np.ndarray]  # role -> int16 mono, all the same length
    turns: list[Turn]
    timing: str  # "modeled" (local bridge) or "measured" (real room)
    notes: dict = field(default_factory=dict)  # transport facts for meta.json (room, dispatches)

    @property
    def duration(self) -> float:
        n = len(next(iter(self.tracks.values())))
        return n / self.sample_rate


def write_wav(path: Path, pcm: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: not mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


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


def write_conversation(folder: Path, rec: Recording, meta: dict) -> None:
    """Write transcript, tracks, mix and meta of one conversation into `folder`."""
    tracks_dir = folder / "tracks"
    tracks_dir.mkdir(parents=True, exist_ok=True)
    with open(folder / "transcript.jsonl", "w", encoding="utf-8") as f:
        for t in rec.turns:
            f.write(json.dumps(asdict(t), ensure_ascii=False) + "\n")
    paths = []
    for role, pcm in rec.tracks.items():
        path = tracks_dir / f"{role}.wav"
        write_wav(path, pcm, rec.sample_rate)
        paths.append(path)
    mix_mp3(paths, folder / "mix.mp3")
    meta = {**meta, **rec.notes, "timing": rec.timing, "sample_rate": rec.sample_rate,
            "duration_s": round(rec.duration, 3), "turns": len(rec.turns)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
