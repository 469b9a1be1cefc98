"""What a transport records of one conversation: its tracks on one clock, and its turns.

The local bridge models the timing, a LiveKit room's observer measures it; either way the
result is a `Recording`, which runfolder.write_conversation turns into files.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from .runfolder.audio import loud, stray_speech


@dataclass
class Word:
    word: str  # without the punctuation around it
    start: float  # seconds from conversation start
    end: float

    @staticmethod
    def bare(token: str) -> str:
        """A written token ("4471,") as a word ("4471")."""
        return token.strip(".,;:!?\"'()—–-।")


@dataclass
class Turn:
    """One line of transcript.jsonl: a turn, or a backchannel said during the peer's turn."""

    turn: int
    role: str
    speaker: str
    text: str  # the words actually spoken (up to the cut when interrupted)
    start: float  # seconds from conversation start
    end: float
    interrupted: bool
    heard: str | None  # what the listener's STT made of it
    kind: str = "turn"  # or "backchannel": "mm-hmm" at the peer's pause, not a turn to answer
    intended: str | None = None  # the full planned line of an interrupted turn
    words: list[Word] | None = None  # None: the speaking engine gives no word timing
    disfluencies: list[dict] = field(default_factory=list)  # {type, index, text} (labels.py)
    wer: float | None = None  # word error rate of `heard` against `text` (see word_error_rate)

    def shift(self, seconds: float) -> None:
        """Move the line (and its words) by `seconds` on the conversation's clock."""
        self.start, self.end = round(self.start + seconds, 3), round(self.end + seconds, 3)
        if self.words:
            self.words = [Word(w.word, round(w.start + seconds, 3), round(w.end + seconds, 3)) for w in self.words]


def normalize(text: str) -> str:
    """Words as a recognizer is judged on them: case, punctuation and digit grouping do not
    count ("4,417" is "4417", "RF-2291" is "rf 2291"), apostrophes and decimal points do."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", text)  # thousands separators
    out = []
    for i, c in enumerate(text):
        keep = c in "'." and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        out.append(c if keep or unicodedata.category(c)[0] not in "PS" else " ")
    return " ".join("".join(out).split())


def word_error_rate(said: str, heard: str | None) -> float | None:
    """Word errors (substitutions, deletions, insertions) of `heard` per word of `said`, both
    normalized; None when nothing was heard or nothing was said."""
    import jiwer

    ref, hyp = normalize(said), normalize(heard) if heard is not None else None
    if hyp is None or not ref:
        return None
    return round(jiwer.wer(ref, hyp), 4) if hyp else 1.0


@dataclass
class Recording:
    sample_rate: int
    tracks: dict[str, np.ndarray]  # role -> int16 mono, all the same length
    turns: list[Turn]
    timing: str  # "modeled" (local bridge) or "measured" (real room)
    notes: dict = field(default_factory=dict)  # transport facts for meta.json (room, dispatches)

    def label_errors(self) -> float | None:
        """Set every turn's `wer`; the mean over the turns that were heard (None if none was)."""
        for t in self.turns:
            t.wer = word_error_rate(t.text, t.heard)
        rates = [t.wer for t in self.turns if t.wer is not None]
        return round(sum(rates) / len(rates), 4) if rates else None

    @property
    def duration(self) -> float:
        n = len(next(iter(self.tracks.values())))
        return n / self.sample_rate

    def problem(self, min_turns: int) -> str | None:
        """Why this is not a usable conversation, or None."""
        turns = [t for t in self.turns if t.kind == "turn"]
        roles = {t.role for t in turns}
        if len(roles) < 2:
            speech = ", ".join(f"{r} track {loud(p).sum() / self.sample_rate:.1f} s of speech"
                               for r, p in self.tracks.items())
            return f"only {sorted(roles)} spoke ({speech})"
        silent = [t.turn for t in self.turns if not t.text]
        if silent:
            return f"turns {silent} have no transcript"
        if len(turns) < min_turns:
            return f"{len(turns)} turns, fewer than the scenario's minimum {min_turns}"
        for role, pcm in self.tracks.items():  # what `inspect --validate` would find (runfolder/validate.py)
            at = stray_speech(pcm, [(t.start, t.end) for t in self.turns if t.role == role], self.sample_rate)
            if at is not None:  # in a room: a line whose announcement was lost (a server node failing over)
                return f"speech at {at:.3f} s in the {role} track under none of its lines"
        return None
