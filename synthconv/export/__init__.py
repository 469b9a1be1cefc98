"""Exports: a run folder turned into what ML people load without glue (`synthconv export`).

source.py reads the complete conversations, splits.py assigns train/dev/test, formats.py
writes each format, card.py the dataset card and checksums.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunFolderError
from .card import write_card, write_checksums
from .formats import FORMATS, write_audio, write_hf, write_nemo, write_rttm
from .source import AUDIO, complete_conversations
from .splits import SPLIT_BY, assign, parse_split


@dataclass
class ExportSummary:
    conversations: int
    splits: dict[str, int]  # split -> conversations
    files: int
    warnings: list[str]


def export(run: Path, out: Path, formats: list[str], split: str = "80/10/10", split_by: str = "persona",
           audio: str = "clean") -> ExportSummary:
    """Write `formats` of the run's complete conversations into the new or empty folder `out`."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"--format: choose from {', '.join(FORMATS)} (got {', '.join(unknown) or 'none'})")
    if "hf" in formats:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--format hf needs pyarrow: pip install 'synthconv[export]'") from None
    shares = parse_split(split)
    if split_by not in SPLIT_BY:
        raise ValueError(f"--split-by: choose from {', '.join(SPLIT_BY)} (got {split_by!r})")
    if audio not in AUDIO:
        raise ValueError(f"--audio: choose from {', '.join(AUDIO)} (got {audio!r})")
    info, conversations = complete_conversations(run, audio)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(f"--out: {out} is not an empty folder; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    splits = assign(conversations, shares, split_by)
    with tempfile.TemporaryDirectory() as tmp:  # hf alone embeds the audio: no loose copies
        audio = write_audio(out if "nemo" in formats else Path(tmp), conversations, splits)
        if "hf" in formats:
            write_hf(out, conversations, splits, audio)
        rttm = write_rttm(out, conversations) if {"rttm", "nemo"} & set(formats) else {}
        if "nemo" in formats:
            write_nemo(out, conversations, splits, audio, rttm)
    write_card(out, run, info, conversations, splits, formats, split_by, shares)
    files = write_checksums(out)
    counts: dict[str, int] = {}
    for s in splits.values():
        counts[s] = counts.get(s, 0) + 1
    warnings = [f"--split: {name} is empty: the {len(conversations)} conversations fall into too few {split_by} "
                f"groups for {split} (try --split-by scenario or conversation, or a larger run)"
                for name in shares if name not in counts]
    return ExportSummary(conversations=len(conversations), splits=counts, files=files, warnings=warnings)


__all__ = ["FORMATS", "SPLIT_BY", "ExportSummary", "export"]
