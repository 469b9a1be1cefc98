"""What a transport records of one conversation: its tracks on one clock, and its turns.

The local bridge models the timing, a LiveKit room's observer measures it; either way the
result is a `Recording`, which runfolder.write_conversation turns into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .runfolder.audio import loud


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

    def problem(self, min_turns: int) -> str | None:
        """Why this is not a usable conversation, or None."""
        roles = {t.role for t in self.turns}
        if len(roles) < 2:
            speech = ", ".join(f"{r} track {loud(p).sum() / self.sample_rate:.1f} s of speech"
                               for r, p in self.tracks.items())
            return f"only {sorted(roles)} spoke ({speech})"
        silent = [t.turn for t in self.turns if not t.text]
        if silent:
            return f"turns {silent} have no transcript"
        if len(self.turns) < min_turns:
            return f"{len(self.turns)} turns, fewer than the scenario's minimum {min_turns}"
        return None
