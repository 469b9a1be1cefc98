"""The audio an export ships: each conversation's tracks and a lossless mono mix, and per-turn
slices; files are hard-linked from the run where the disk allows (no copy), else copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..runfolder import read_wav, write_wav
from .source import Conversation


def place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def conversation_audio(c: Conversation, folder: Path) -> dict[str, Path]:
    """tracks/<role>.wav linked into `folder`, plus mix.wav (the tracks summed, clipped)."""
    paths = {}
    mix = None
    for role in c.roles:
        place(c.track(role), folder / f"{role}.wav")
        paths[role] = folder / f"{role}.wav"
        pcm, _ = read_wav(c.track(role))
        mix = pcm.astype(np.int32) if mix is None else mix + pcm
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
