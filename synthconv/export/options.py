"""What `synthconv export` was asked for, checked (one line naming the flag)."""

from __future__ import annotations

from dataclasses import dataclass

from .formats import AGENT_ROLES, FORMATS
from .source import AUDIO
from .splits import SPLIT_BY, parse_split


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = ("hf",)
    split: str = "80/10/10"
    split_by: str = "persona"
    audio: str = "clean"
    agent_roles: tuple[str, ...] = AGENT_ROLES  # -f stereo: which role is the agent (right channel)

    def check(self) -> dict[str, float]:
        """The split shares; ValueError naming the flag for anything else wrong."""
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ValueError(f"--format: choose from {', '.join(FORMATS)} (got {', '.join(unknown) or 'none'})")
        if "hf" in self.formats:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ValueError("--format hf needs pyarrow: pip install 'synthconv[export]'") from None
        shares = parse_split(self.split)
        if self.split_by not in SPLIT_BY:
            raise ValueError(f"--split-by: choose from {', '.join(SPLIT_BY)} (got {self.split_by!r})")
        if self.audio not in AUDIO:
            raise ValueError(f"--audio: choose from {', '.join(AUDIO)} (got {self.audio!r})")
        if not self.agent_roles:
            raise ValueError("--agent-role: name at least one role")
        return shares
