"""Lhotse manifests, written without importing lhotse (it needs torch): each line is what
lhotse 1.33's `to_dict()` gives for the same object, key for key, and the files are what its
`to_file("....jsonl.gz")` writes (one `json.dumps(..., ensure_ascii=False)` per line, gzipped).
tests/export/lhotse_fixture/ holds manifests real lhotse wrote for a committed run; `make test-lhotse`
loads a fresh export in lhotse itself.

Per split, in lhotse/ (the names its recipes use, prefix `synthconv`):
- recordings: one per role track and one for the mix (`<conversation>-<role>`, `<conversation>-mix`);
- supervisions: one per turn, on its speaker's track, with the word alignment;
- cuts: what `CutSet.from_manifests(recordings, supervisions)` makes of them: one MonoCut per
  recording with its supervisions (the mix's cut has none: every turn is on its speaker's track).
Audio paths are relative to the export folder: `.with_path_prefix(DIR)` (recordings) or
`.with_recording_path_prefix(DIR)` (cuts) makes them absolute.
"""

from __future__ import annotations

import gzip
import json
import os
import wave
from collections.abc import Callable
from pathlib import Path

from .source import Conversation

PREFIX = "synthconv"


def recording(rid: str, path: Path, root: Path) -> dict:
    """lhotse.Recording.from_file(path, recording_id=rid).to_dict(), for a mono WAV."""
    with wave.open(str(path), "rb") as w:
        rate, frames = w.getframerate(), w.getnframes()
    return {"id": rid, "sources": [{"type": "file", "channels": [0], "source": Path(os.path.relpath(path, root)).as_posix()}],
            "sampling_rate": rate, "num_samples": frames, "duration": frames / rate, "channel_ids": [0]}


def supervision(c: Conversation, t: dict, segment_id: str) -> dict:
    """lhotse.SupervisionSegment(...).to_dict(): times in seconds from the start of the speaker's
    track, durations rounded to the millisecond the transcript keeps; persona id as speaker;
    the rest of the transcript line under `custom`; words as AlignmentItems [symbol, start,
    duration, score] (no score: null)."""
    role = t["role"]
    start = float(t["start"])
    d = {"id": segment_id, "recording_id": f"{c.id}-{role}", "start": start,
         "duration": round(float(t["end"]) - start, 3), "channel": 0, "text": t["text"],
         "language": c.language, "speaker": c.roles[role]}
    gender = c.meta["personas"][role].get("gender")
    if isinstance(gender, str):
        d["gender"] = gender
    d["custom"] = {"conversation_id": c.id, "role": role, "speaker_name": c.speakers[role],
                   "locale": c.locales[role], "kind": t.get("kind") or "turn", "interrupted": bool(t["interrupted"]),
                   "spoken": t.get("spoken") or t["text"]}
    if t.get("words"):
        d["alignment"] = {"word": [[w["word"], float(w["start"]), round(float(w["end"]) - float(w["start"]), 3), None]
                                   for w in t["words"]]}
    return d


def cuts(recordings: list[dict], supervisions: list[dict]) -> list[dict]:
    """CutSet.from_manifests(recordings, supervisions) as dicts: cut ids are the recording id and
    its index in the split's recordings, lhotse's default."""
    by_recording: dict[str, list[dict]] = {}
    for s in supervisions:
        by_recording.setdefault(s["recording_id"], []).append(s)
    return [{"id": f"{r['id']}-{i}", "start": 0, "duration": r["duration"], "channel": 0,
             "supervisions": by_recording.get(r["id"], []), "recording": r, "type": "MonoCut"}
            for i, r in enumerate(recordings)]


def write_jsonl_gz(path: Path, items: list[dict]) -> None:
    """lhotse's save_to_jsonl, gzipped without a name or time in the header (same bytes each export)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        for item in items:
            f.write((json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8"))


def write_lhotse(out: Path, conversations: list[Conversation], splits: dict[str, str],
                 audio: dict[str, dict[str, Path]], segment_id: Callable[[Conversation, dict], str]) -> None:
    """lhotse/synthconv_{recordings,supervisions,cuts}_<split>.jsonl.gz."""
    recs: dict[str, list[dict]] = {}
    sups: dict[str, list[dict]] = {}
    for c in conversations:
        split = splits[c.id]
        for key in [*c.roles, "mix"]:
            recs.setdefault(split, []).append(recording(f"{c.id}-{key}", audio[c.id][key], out))
        sups.setdefault(split, []).extend(supervision(c, t, segment_id(c, t)) for t in c.turns)
    for split, rs in recs.items():
        folder = out / "lhotse"
        write_jsonl_gz(folder / f"{PREFIX}_recordings_{split}.jsonl.gz", rs)
        write_jsonl_gz(folder / f"{PREFIX}_supervisions_{split}.jsonl.gz", sups[split])
        write_jsonl_gz(folder / f"{PREFIX}_cuts_{split}.jsonl.gz", cuts(rs, sups[split]))
