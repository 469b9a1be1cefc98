"""What a transport records of one conversation: its tracks on one clock, and its turns.

The local bridge models the timing, a LiveKit room's observer measures it; either way the
result is a `Recording`, which runfolder.write_conversation turns into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .runfolder.audio import loud


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
        return None
