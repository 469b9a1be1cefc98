"""Labels computed from what was recorded: disfluencies in a turn's words, and a conversation's
turn-taking figures from its turns and tracks.

Both read only the transcript and the audio, never the engine's intentions, so they label any
engine's conversations (an OpenAI voice saying "um" too) and `inspect` recomputes them from a run
folder exactly as the runner wrote them into meta.json.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from .audio import SILENT, loud

FILLER_WORDS = {
    "en": {"um", "uh", "er", "erm", "hmm", "well", "so", "okay", "right"},
    "hi": {"अं", "उम्म", "हम्म", "मतलब", "देखिए", "अच्छा", "जी"},
}
# words after which the speaker corrects what came before: "on Tuesday, I mean Wednesday"
REPAIR_MARKERS = {"en": ("i mean", "or rather"), "hi": ("मेरा मतलब",)}


def _tokens(text: str) -> list[str]:
    return text.split()


def _bare(token: str) -> str:
    return token.lower().strip(",.?!।;:\"'()—–")


def disfluencies(text: str, language: str) -> list[dict]:
    """Fillers, repetitions ("I I think") and self-repairs ("Tuesday, I mean Wednesday") in
    `text`, each as {type, index, text}: `index` is the whitespace-separated word it starts at.

    Fillers count only where they stand apart: a leading "so" or "well" followed by a comma,
    or "um"/"uh" anywhere (a "so" inside a sentence is just a word)."""
    lang = language if language in FILLER_WORDS else "en"
    tokens = _tokens(text)
    found = []
    for i, tok in enumerate(tokens):
        bare = _bare(tok)
        hesitation = bare in ("um", "uh", "er", "erm", "hmm", "अं", "उम्म", "हम्म")
        set_off = bare in FILLER_WORDS[lang] and tok.endswith(",") and (i == 0 or tokens[i - 1].endswith((",", ".", "?", "!")))
        if hesitation or set_off:
            found.append({"type": "filler", "index": i, "text": tok.strip(",.")})
        elif i and bare and bare == tokens[i - 1].lower() and not bare.isdigit():
            found.append({"type": "repetition", "index": i - 1, "text": f"{tokens[i - 1]} {tok}"})
    lowered = " ".join(tokens).lower()
    for marker in REPAIR_MARKERS[lang]:
        for m in re.finditer(rf"(?:^|[,—–-]\s*|\s){re.escape(marker)}\b", lowered):
            index = len(lowered[: m.end()].split()) - len(marker.split())
            if index > 0 and not any(d["type"] == "repair" and d["index"] == index for d in found):
                found.append({"type": "repair", "index": index, "text": marker})
    return sorted(found, key=lambda d: d["index"])


def speaking(pcm: np.ndarray, rate: int, bridge_s: float = 0.25, silent: int = SILENT) -> np.ndarray:
    """Per 10 ms frame, whether the track is speaking: loud frames with pauses shorter than
    `bridge_s` filled in (the gaps between a speaker's words are still their turn)."""
    hop = rate // 100
    n = len(pcm) // hop
    frames = np.abs(pcm[: n * hop].astype(np.int32)).reshape(n, hop).max(axis=1) > silent
    idx = np.flatnonzero(frames)
    if len(idx) > 1:
        gaps = np.flatnonzero((np.diff(idx) > 1) & (np.diff(idx) <= bridge_s * 100))
        for g in gaps:
            frames[idx[g] : idx[g + 1]] = True
    return frames


# Fisher two-channel telephone speech, seconds per minute (Moshi paper, Table 9; dGSLM's measures)
FISHER_PER_MIN = {"ipu": 51.1, "pause": 6.4, "gap": 4.2, "overlap": 3.3}
IPU_SILENCE_S = 0.2  # speech separated by less silence than this is one inter-pausal unit


def ipus(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Per 10 ms frame, whether the track is inside an inter-pausal unit: an energy VAD (a frame
    speaks when a sample exceeds the contract's silence threshold), silences under
    IPU_SILENCE_S filled in."""
    return speaking(pcm, rate, bridge_s=IPU_SILENCE_S)


def timing_per_minute(tracks: dict[str, np.ndarray], rate: int) -> dict[str, float] | None:
    """dGSLM's and Moshi's four cumulated durations, in seconds per minute of conversation:
    `ipu` (both speakers' IPU time), `pause` (silence between two IPUs of the same speaker
    while the other is silent), `gap` (silence between an IPU of one speaker and the next of
    the other) and `overlap` (both speak). None for anything but two tracks."""
    if len(tracks) != 2:
        return None
    a, b = (ipus(p, rate) for p in tracks.values())
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    minutes = n / 100 / 60
    if not minutes:
        return None
    state = a.astype(np.int8) + 2 * b.astype(np.int8)  # 0 none, 1 a, 2 b, 3 both
    pause = gap = 0
    last, silent = 0, 0  # who spoke alone last (1 or 2; 3: both), frames of silence since
    for value, length in _runs(state):
        if value == 0:
            silent = length if last else 0
            continue
        if silent:
            after = value if value != 3 else 0
            if after and after == last:
                pause += silent
            else:
                gap += silent
            silent = 0
        last = value
    per_min = lambda frames: round(frames / 100 / minutes, 2)  # noqa: E731
    return {"ipu": per_min(int(a.sum() + b.sum())), "pause": per_min(pause), "gap": per_min(gap),
            "overlap": per_min(int((state == 3).sum()))}


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(value, length) of each run of equal values."""
    if not len(values):
        return []
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [len(values)]]))
    return [(int(values[i]), int(k)) for i, k in zip(starts, lengths)]


def turn_taking(turns: list[dict], tracks: dict[str, np.ndarray], rate: int) -> dict:
    """The conversation's turn-taking figures (meta.json `labels`), from its turns and tracks.

    - floor-transfer offsets: next turn's start minus the previous turn's end at each change of
      speaker (negative: the next speaker started in overlap); backchannels are not turns.
    - overlap_ratio: the share of time anyone speaks during which both do, from the tracks.
    """
    real = [t for t in turns if t.get("kind", "turn") == "turn"]
    offsets = [round(b["start"] - a["end"], 3) for a, b in zip(real, real[1:]) if a["role"] != b["role"]]
    duration_min = max(len(p) for p in tracks.values()) / rate / 60 if tracks else 0
    active = {r: speaking(p, rate) for r, p in tracks.items()}
    anyone = np.logical_or.reduce(list(active.values())) if active else np.zeros(0, bool)
    both = np.logical_and.reduce(list(active.values())) if len(active) > 1 else np.zeros_like(anyone)
    talk = {r: float(a.sum()) for r, a in active.items()}
    total = sum(talk.values())
    fto = None
    if offsets:
        p10, p50, p90 = (round(float(v), 3) for v in np.percentile(offsets, [10, 50, 90]))
        fto = {"n": len(offsets), "p10": p10, "p50": p50, "p90": p90, "mode": modal_offset(offsets),
               "overlapped": round(sum(o < 0 for o in offsets) / len(offsets), 3)}
    per_min = (lambda n: round(n / duration_min, 2)) if duration_min else (lambda n: None)
    return {
        "floor_transfer_offset_s": fto,
        "overlap_ratio": round(float(both.sum() / anyone.sum()), 3) if anyone.any() else 0.0,
        "backchannels_per_min": per_min(sum(t.get("kind") == "backchannel" for t in turns)),
        "interruptions_per_min": per_min(sum(bool(t.get("interrupted")) for t in real)),
        "interrupted_turns": round(sum(bool(t.get("interrupted")) for t in real) / len(real), 3) if real else 0.0,
        "speaking_share": {r: round(v / total, 3) if total else 0.0 for r, v in talk.items()},
        "disfluencies_per_turn": round(sum(len(t.get("disfluencies") or []) for t in real) / len(real), 3) if real else 0.0,
        "timing_per_min": timing_per_minute(tracks, rate),
    }


def modal_offset(offsets: list[float], bin_s: float = 0.1) -> float:
    """The centre of the most populated `bin_s`-wide bin (bins centred on multiples of it)."""
    bins = np.round(np.asarray(offsets) / bin_s).astype(int)
    values, counts = np.unique(bins, return_counts=True)
    return round(float(values[np.argmax(counts)] * bin_s), 3)


def run_figures(run: Path, ids: list[str]) -> dict | None:
    """The run's turn-taking figures over its complete conversations: offsets pooled from the
    transcripts, the rest from each meta.json's `labels` (None for runs written before 1.2)."""
    from ..errors import RunFolderError
    from .conversation import read_lines, read_meta
    from .names import conversation_dir
    from .schema import ConversationMeta, SchemaError, TranscriptLine

    def usable(t: object) -> TypeGuard[dict[str, Any]]:  # a JSON object from_dict takes
        try:
            TranscriptLine.from_dict(t)
        except SchemaError:
            return False
        return True

    offsets, overlap, minutes, backchannels, interrupted, turns = [], [], 0.0, 0, 0, 0
    timing: dict[str, float] = {}  # seconds of each of timing_per_minute's durations, over the minutes that have them
    timed_minutes = 0.0
    for cid in ids:  # a linked or damaged conversation, or line, is left out; inspect --validate reports it
        try:
            folder = conversation_dir(run, cid)
            meta = read_meta(folder)
            if not isinstance(meta, dict) or not isinstance(meta.get("labels"), dict):
                continue
            duration = ConversationMeta.from_dict(meta).duration_s
            lines = [t for _, t in read_lines(folder / "transcript.jsonl") if usable(t)]
        except (OSError, RunFolderError, SchemaError):
            continue
        real = [t for t in lines if t.get("kind", "turn") == "turn"]
        offsets += [b["start"] - a["end"] for a, b in zip(real, real[1:]) if a["role"] != b["role"]]
        ratio = meta["labels"].get("overlap_ratio")
        overlap.append(ratio if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) else 0.0)
        minutes += duration / 60
        per_min = meta["labels"].get("timing_per_min")
        if (isinstance(per_min, dict) and duration
                and all(isinstance(per_min.get(k), (int, float)) for k in FISHER_PER_MIN)):
            timed_minutes += duration / 60
            for k in FISHER_PER_MIN:
                timing[k] = timing.get(k, 0.0) + float(per_min[k]) * duration / 60
        backchannels += sum(t.get("kind") == "backchannel" for t in lines)
        interrupted += sum(bool(t.get("interrupted")) for t in real)
        turns += len(real)
    if not offsets or not minutes:
        return None
    p10, p50, p90 = (round(float(v), 3) for v in np.percentile(offsets, [10, 50, 90]))
    return {
        "floor_transfer_offset_s": {"p10": p10, "p50": p50, "p90": p90, "mode": modal_offset(offsets),
                                    "overlapped": round(sum(o < 0 for o in offsets) / len(offsets), 3)},
        "overlap_ratio": round(float(np.mean(overlap)), 3),
        "backchannels_per_min": round(backchannels / minutes, 2),
        "interrupted_turns": round(interrupted / turns, 3),
        "timing_per_min": {k: round(v / timed_minutes, 2) for k, v in timing.items()} if timed_minutes else None,
    }


def problems(lines: list[dict], tracks: dict[str, np.ndarray], rate: int, edge: float) -> list[str]:  # noqa: C901
    """Words, backchannels, overlaps and interruptions against the audio (`inspect --validate`,
    FORMAT.md 1.2); timestamps may be off by `edge` at each edge."""
    problems = []

    def speech(role: str, a: float, b: float) -> bool:
        pcm = tracks.get(role)
        return pcm is not None and bool(loud(pcm[max(0, int(a * rate)) : max(0, int(b * rate))]).any())

    turns = [t for t in lines if t.get("kind", "turn") == "turn"]
    for t in lines:
        name = f"turn {t['turn']} ({t['role']})"
        for w in t.get("words") or []:
            if w["start"] < t["start"] - edge or w["end"] > t["end"] + edge or w["end"] < w["start"]:
                problems.append(f"{name}: word {w['word']!r} [{w['start']}, {w['end']}] outside its turn")
            elif not speech(t["role"], w["start"], w["end"]):
                problems.append(f"{name}: no speech under word {w['word']!r} [{w['start']}, {w['end']}]")
        if t.get("kind") == "backchannel" and not any(
                u["role"] != t["role"] and u["start"] - edge <= t["start"] and t["end"] <= u["end"] + edge
                for u in turns):
            problems.append(f"{name}: backchannel [{t['start']}, {t['end']}] not inside a turn of its peer")
        if t.get("interrupted") and t.get("intended") is not None:
            said, meant = t["text"].split(), t["intended"].split()
            if len(said) > len(meant) or [w.strip(",.;:") for w in said] != [w.strip(",.;:") for w in meant[:len(said)]]:
                problems.append(f"{name}: interrupted text is not the start of its intended line")
            later = [u["start"] for u in lines if u["role"] == t["role"] and u["start"] > t["start"]]
            if speech(t["role"], t["end"] + edge, min([t["end"] + 0.3, *later]) - edge):
                problems.append(f"{name}: its track goes on after the cut at {t['end']}")
    for a, b in zip(turns, turns[1:]):
        if a["role"] != b["role"] and b["start"] < a["end"] - edge:
            lo, hi = b["start"] - edge, a["end"] + edge
            if not (speech(a["role"], lo, hi) and speech(b["role"], lo, hi)):
                problems.append(f"turns {a['turn']} and {b['turn']}: overlap [{lo}, {hi}] is not speech in both tracks")
    return problems
