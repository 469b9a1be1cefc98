"""The audio an export ships: each conversation's tracks and a lossless mono mix, per-turn
slices, and the caller/agent stereo WAV. A track is copied (or reflinked where the filesystem
can share blocks copy-on-write), never hard-linked: an export edited in place must not change
the run it came from."""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
from pathlib import Path

import numpy as np

from ..runfolder import read_wav, write_wav
from .source import Conversation

FICLONE = 0x40049409  # linux/fs.h: share the source's blocks, copy-on-write (btrfs, XFS)


def place(src: Path, dst: Path) -> None:
    """A private copy of `src` at `dst` (a new file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(src, os.O_RDONLY | os.O_NOFOLLOW), "rb") as s, open(dst, "xb") as d:
        try:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
            return
        except OSError:
            pass
        shutil.copyfileobj(s, d, 1 << 20)


def conversation_audio(c: Conversation, folder: Path, copy_tracks: bool = True) -> dict[str, Path]:
    """mix.wav (the tracks summed, clipped) in `folder`, and the tracks copied there, or when
    `copy_tracks` is false the run's own tracks, only to be read (hf embeds their bytes)."""
    paths = {}
    mix = None
    for role in c.roles:
        if copy_tracks:
            place(c.track(role), folder / f"{role}.wav")
        paths[role] = folder / f"{role}.wav" if copy_tracks else c.track(role)
        pcm, _ = read_wav(c.track(role))
        mix = pcm.astype(np.int32) if mix is None else mix + pcm
    if mix is None:
        raise ValueError(f"{c.folder}: a conversation without roles has no mix")
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "mix.wav", np.clip(mix, -32768, 32767).astype(np.int16), c.sample_rate)
    paths["mix"] = folder / "mix.wav"
    return paths


def turn_slices(c: Conversation, folder: Path) -> dict[int, Path]:
    """One WAV per turn, cut from its speaker's track at [start, end]."""
    tracks = {role: read_wav(c.track(role))[0] for role in c.roles}
    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    for t in c.turns:
        a, b = int(round(t["start"] * c.sample_rate)), int(round(t["end"] * c.sample_rate))
        out[t["turn"]] = folder / f"{t['turn']:03d}.wav"
        write_wav(out[t["turn"]], tracks[t["role"]][a:b], c.sample_rate)
    return out


def _info_chunk(fields: dict[str, str]) -> bytes:
    """A RIFF LIST/INFO chunk: each field NUL-terminated, padded to an even size."""
    body = b"INFO"
    for key, text in fields.items():
        data = text.encode("utf-8") + b"\0"
        body += key.encode("ascii") + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"LIST" + struct.pack("<I", len(body)) + body


def stereo_wav(path: Path, left: np.ndarray, right: np.ndarray, rate: int, info: dict[str, str]) -> None:
    """16-bit PCM stereo WAV, `left` on channel 0 and `right` on channel 1, with a LIST/INFO chunk
    (before the data, where ffmpeg puts it) that says which is which."""
    n = max(len(left), len(right))
    frames = np.zeros((n, 2), dtype="<i2")
    frames[:len(left), 0], frames[:len(right), 1] = left, right
    data = frames.tobytes()
    fmt = struct.pack("<HHIIHH", 1, 2, rate, rate * 4, 4, 16)  # PCM, 2 channels, 16-bit
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt + _info_chunk(info)
              + b"data" + struct.pack("<I", len(data)) + data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
