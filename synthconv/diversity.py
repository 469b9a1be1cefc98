"""How varied a run is: repeated lines, distinct n-grams, near-duplicate conversations, distinct
speakers, speaker-disjoint splits.

A dataset that repeats its sentences and its speakers teaches models to memorise them, so
`synthconv inspect` and bench/diversity.py measure it the same way, from the conversations'
utterances (text per conversation) and their persona ids. Plain functions over plain data: the
figures do not depend on audio, so they can be computed on transcripts or on rendered text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LONG_WORDS = 4  # "an utterance of four or more words": shorter ones ("It's 60614.") may repeat
NEAR_DUPLICATE = 0.8  # Jaccard similarity of word 3-gram sets above which two conversations are near-duplicates
MAX_PAIRWISE = 3000  # conversations; beyond that the pair matrix (n x n) is not made (not measured)
# A word starts with a letter or digit and goes on with letters, digits, apostrophes, hyphens and
# combining marks: to `re`, \w is not a Devanagari vowel sign ("नमस्कार" would split into
# "नमस क र"), so the Indic blocks' marks are listed (their dandas "।" "॥" are punctuation).
_MARKS = "\u0300-\u036F\u0900-\u0963\u0966-\u0DFF\u1AB0-\u1AFF\u1DC0-\u1DFF\u200C\u200D"
WORD = re.compile(rf"[^\W_][\w{_MARKS}'’-]*")


@dataclass(frozen=True)
class Sample:
    """One conversation as the figures see it."""

    id: str
    scenario: str
    roles: dict[str, str]  # role -> persona id
    utterances: list[str]


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def _norm(text: str) -> str:
    return " ".join(words(text))


def repeats(samples: list[Sample], min_words: int = LONG_WORDS) -> tuple[float, list[tuple[str, int]]]:
    """The share of utterances of at least `min_words` words whose text (case and punctuation
    aside) occurs in another conversation too, and the lines in most conversations."""
    in_convs: dict[str, set[str]] = {}
    shown: dict[str, str] = {}
    total = 0
    for s in samples:
        for u in s.utterances:
            key = _norm(u)
            if len(key.split()) < min_words:
                continue
            total += 1
            in_convs.setdefault(key, set()).add(s.id)
            shown.setdefault(key, u)
    repeated = sum(1 for s in samples for u in s.utterances
                   if len(_norm(u).split()) >= min_words and len(in_convs[_norm(u)]) > 1)
    top = sorted(((shown[k], len(v)) for k, v in in_convs.items() if len(v) > 1), key=lambda x: (-x[1], x[0]))
    return (repeated / total if total else 0.0), top


def distinct_ngrams(samples: list[Sample], n: int) -> float:
    """Distinct word n-grams over all n-grams of the run (n-grams never cross an utterance)."""
    grams: Counter = Counter()
    for s in samples:
        for u in s.utterances:
            w = words(u)
            grams.update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def speaker_groups(samples: list[Sample]) -> list[list[Sample]]:
    """Conversations that share a speaker, transitively, largest first: a speaker-disjoint split
    keeps each group whole (export/splits.py, --split-by persona)."""
    from .export.splits import groups

    return sorted(groups(samples, "persona"), key=len, reverse=True)  # type: ignore[arg-type]


def speaker_split(samples: list[Sample], shares: dict[str, float]) -> dict:
    """The speaker-disjoint split export would make (export/splits.py, --split-by persona):
    the share each split got, and the largest miss in percentage points."""
    from .export.splits import assign

    if not samples:
        return {"possible": False, "shares": {}, "off_by_points": None}
    got = Counter(assign(samples, shares, "persona").values())  # type: ignore[arg-type]
    achieved = {name: round(got.get(name, 0) / len(samples), 4) for name in shares}
    off = max(abs(achieved[n] - shares[n]) for n in shares) * 100
    return {"possible": all(got.get(n, 0) for n in shares), "shares": achieved, "off_by_points": round(off, 2)}


def figures(samples: list[Sample], top: int = 10, split: dict[str, float] | None = None) -> dict:
    """Every diversity figure of a run, as one JSON-ready dict."""
    long_share, top_lines = repeats(samples)
    all_share, _ = repeats(samples, min_words=1)
    groups = speaker_groups(samples)
    split = split or {"train": 0.8, "dev": 0.1, "test": 0.1}
    return {
        "conversations": len(samples),
        "utterances": sum(len(s.utterances) for s in samples),
        "repeated_share": round(all_share, 4),
        "repeated_share_4_words": round(long_share, 4),
        "distinct_2grams": round(distinct_ngrams(samples, 2), 4),
        "distinct_3grams": round(distinct_ngrams(samples, 3), 4),
        "most_repeated": [{"text": t, "conversations": n} for t, n in top_lines[:top]],
        "distinct_speakers": len({p for s in samples for p in s.roles.values()}),
        "speaker_groups": len(groups),
        "largest_speaker_group": len(groups[0]) if groups else 0,
        "speaker_split": split and speaker_split(samples, split),
    }


def run_samples(run: Path) -> list[Sample]:
    """The complete conversations of a run folder (the text of their transcripts' turns, in order;
    backchannels left out)."""
    from .runfolder import conversation_dir, read_index, read_run_info, read_transcript

    info = read_run_info(run)
    ok = {r.id for _, r in read_index(run) if not isinstance(r, str) and r.ok}
    out = []
    for job in info["jobs"]:
        if job["id"] not in ok:
            continue
        try:
            turns = read_transcript(conversation_dir(run, job["id"]))
        except Exception:  # noqa: BLE001 - a damaged transcript is validate's finding, not ours
            continue
        out.append(Sample(id=job["id"], scenario=job["scenario"], roles=dict(job["roles"]),
                          utterances=[t.text for t in turns if t.kind == "turn"]))  # a backchannel is not an utterance
    return out


def near_duplicates(samples: list[Sample], threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]] | None:
    """Pairs of conversations whose word 3-gram sets overlap above `threshold` (Jaccard), most
    similar first; None when there are too many conversations to compare pairwise."""
    if len(samples) > MAX_PAIRWISE:
        return None
    import numpy as np
    from scipy import sparse

    vocab: dict[tuple[str, ...], int] = {}
    rows, cols = [], []
    for i, s in enumerate(samples):
        grams: set[tuple[str, ...]] = set()
        for u in s.utterances:
            w = words(u)
            grams.update(tuple(w[j:j + 3]) for j in range(len(w) - 2))
        for g in grams:
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(samples), max(1, len(vocab))))
    inter = (m @ m.T).toarray()  # shared 3-grams of every pair at once
    size = np.diag(inter)
    union = size[:, None] + size[None, :] - inter
    sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    pairs = [(samples[a].id, samples[b].id, round(float(sim[a, b]), 3))
             for a, b in zip(*np.nonzero(np.triu(sim >= threshold, k=1)))]
    return sorted(pairs, key=lambda p: -p[2])


def wording(conversations: dict[str, list[str]]) -> dict:
    """The text-only figures of `inspect --report`, for conversation id -> its utterances."""
    samples = [Sample(id=cid, scenario="", roles={}, utterances=texts) for cid, texts in conversations.items()]
    dups = near_duplicates(samples)
    return {"distinct_2": round(distinct_ngrams(samples, 2), 4), "distinct_3": round(distinct_ngrams(samples, 3), 4),
            "repeated_utterance_share": round(repeats(samples, min_words=1)[0], 4),
            "near_duplicate_pairs": None if dups is None else len(dups),
            "near_duplicate_threshold": NEAR_DUPLICATE, "near_duplicates": (dups or [])[:20]}


def format_figures(f: dict) -> list[str]:
    """The figures as a few human lines (inspect and the bench print the same)."""
    split = f["speaker_split"] or {}
    shares = "/".join(f"{v * 100:.1f}" for v in split.get("shares", {}).values())
    lines = [
        f"utterances repeated in another conversation: {f['repeated_share'] * 100:.1f} % of all, "
        f"{f['repeated_share_4_words'] * 100:.1f} % of those with {LONG_WORDS}+ words",
        f"distinct 2-grams {f['distinct_2grams']:.3f}, 3-grams {f['distinct_3grams']:.3f}",
        f"distinct speakers {f['distinct_speakers']} in {f['conversations']} conversations; "
        f"{f['speaker_groups']} speaker groups (largest {f['largest_speaker_group']} conversations)",
        f"speaker-disjoint split: {'possible' if split.get('possible') else 'NOT possible'}, "
        f"{shares} (off by {split.get('off_by_points')} points)",
    ]
    for r in f["most_repeated"]:
        lines.append(f"  {r['conversations']:>4} × {r['text']}")
    return lines
