"""What the orchestrator (livekit.py) and the agents (livekit_agent.py) agree on in a room.

Names and records only, no plugin imports: the orchestrator and its hidden observer read these
without loading the agents' models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..config import EngineSpec, TimingSpec
from ..job import ResolvedJob

AGENT_NAME = "synthconv"  # the agent name every dispatch is explicit about
ROOM_ENV = "SYNTHCONV_LIVEKIT_ROOM"  # set by `synthconv serve`: the room of the one conversation it starts

# participant attributes an agent sets on itself
ENDING_ATTR = "synthconv.ending"  # it is saying its last line
ENDED_ATTR = "synthconv.ended"  # that line has played out
READY_ATTR = "synthconv.ready"  # its session listens to its peer
FAILED_ATTR = "synthconv.failed"  # "transient: why" or "final: why": its engine gave up

# text streams an agent sends to the observer only
SAID_TOPIC = "synthconv.said"  # each line it spoke, once played out
HEARD_TOPIC = "synthconv.heard"  # each final transcript of its peer's audio
# attributes of a SAID_TOPIC text the peer cut off: "1", and the whole line it meant to say
INTERRUPTED_ATTR = "synthconv.interrupted"
INTENDED_ATTR = "synthconv.intended"
# a participant attribute an agent sets on itself after each line, for viewers (serve's live page):
# {"n": its line count, "text": what it said, "cut": whether the peer cut it off}. Hidden viewers
# cannot be sent text streams (agents do not know them), and on `lk.transcription` what an agent
# said and what its peer heard of it arrive alike: the same identity, the same track.
LINE_ATTR = "synthconv.line"


def identity(job_id: str, role: str) -> str:
    """The participant identity of `role`'s agent in `job_id`'s room."""
    return f"{role}-{job_id}"


def observer_identity(room: str) -> str:
    """The hidden observer of `room` (the only one the agents send `SAID_TOPIC`/`HEARD_TOPIC` to)."""
    return f"observer-{room}"


@dataclass(frozen=True)
class Dispatch:
    """A dispatch's metadata: everything an agent worker needs to play `role`, so a worker on
    another machine needs no scenario or persona files (issue 27): the job as played, the engine
    with its non-secret settings (keys come from the worker's environment), the timing."""

    role: str
    played: ResolvedJob
    engine: EngineSpec
    timing: TimingSpec

    @property
    def name(self) -> str:
        """The participant name of the role's agent: its persona's name."""
        return self.played.personas[self.role].name

    def to_json(self) -> str:
        return json.dumps({"role": self.role, "played": self.played.to_dict(),
                           "engine": self.engine.public().model_dump(mode="json"),
                           "timing": self.timing.model_dump(mode="json")}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Dispatch:
        """Raises ValueError (or a pydantic ValidationError, a ValueError) when it is not ours."""
        d = json.loads(text)
        if not isinstance(d, dict) or not isinstance(d.get("role"), str) or not isinstance(d.get("played"), dict):
            raise ValueError("not a synthconv dispatch")
        return cls(role=d["role"], played=ResolvedJob.from_dict(d["played"]),
                   engine=EngineSpec.model_validate(d.get("engine") or {}),
                   timing=TimingSpec.model_validate(d.get("timing") or {}))
