"""What the orchestrator (livekit.py) and the agents (livekit_agent.py) agree on in a room.

Names and records only, no plugin imports: the orchestrator and its hidden observer read these
without loading the agents' models.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field

from ..config import EngineSpec, TimingSpec
from ..job import ResolvedJob
from .timing import BEGUN_S

AGENT_NAME = "synthconv"  # the agent name every dispatch is explicit about
ROOM_ENV = "SYNTHCONV_LIVEKIT_ROOM"  # set by `synthconv serve`: the room of the one conversation it starts
# livekit-server refuses a dispatch whose metadata is longer (config `limit.max_metadata_size`,
# default 512 KiB in v1.13: pkg/config/config.go; checked in AgentDispatchService.CreateDispatch)
MAX_METADATA_BYTES = 512 * 1024
# a compressed dispatch expands to at most this: three 1 MB library files and change
MAX_EXPANDED_BYTES = 4 * 1024 * 1024

# participant attributes an agent sets on itself
ENDING_ATTR = "synthconv.ending"  # it is saying its last line
ENDED_ATTR = "synthconv.ended"  # that line has played out
READY_ATTR = "synthconv.ready"  # its session listens to its peer
FAILED_ATTR = "synthconv.failed"  # "transient: why" or "final: why": its engine gave up

# text streams an agent sends, each a JSON object
LINE_TOPIC = "synthconv.announce"  # to its peer and the observer, as a line starts: Line.to_dict()
# to the observer only:
SAID_TOPIC = "synthconv.said"  # once a line played out: {id, text, interrupted, intended, played, lag}
HEARD_TOPIC = "synthconv.heard"  # what it heard of its peer's line: {of: the line's id, text}
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
        """Plain JSON; over livekit-server's metadata limit, `{"zlib": base64}` of it (a
        scenario file may be 1 MB, and Hindi text costs 3 bytes a character). Raises ValueError
        when even that is over the limit."""
        text = json.dumps({"role": self.role, "played": self.played.to_dict(),
                           "engine": self.engine.public().model_dump(mode="json"),
                           "timing": self.timing.model_dump(mode="json")}, ensure_ascii=False)
        if len(text.encode()) <= MAX_METADATA_BYTES:
            return text
        packed = json.dumps({"zlib": base64.b64encode(zlib.compress(text.encode(), 9)).decode()})
        if len(packed) > MAX_METADATA_BYTES:
            raise ValueError(f"the dispatch of {self.played.job.id} is {len(packed)} bytes compressed, over "
                             f"livekit-server's {MAX_METADATA_BYTES // 1024} KiB metadata limit: "
                             f"shorten scenario {self.played.scenario.id} or its personas")
        return packed

    @classmethod
    def from_json(cls, text: str) -> Dispatch:
        """Raises ValueError (or a pydantic ValidationError, a ValueError) when it is not ours."""
        d = json.loads(text)
        if isinstance(d, dict) and isinstance(d.get("zlib"), str):
            d = json.loads(_expand(d["zlib"]))
        if not isinstance(d, dict) or not isinstance(d.get("role"), str) or not isinstance(d.get("played"), dict):
            raise ValueError("not a synthconv dispatch")
        return cls(role=d["role"], played=ResolvedJob.from_dict(d["played"]),
                   engine=EngineSpec.model_validate(d.get("engine") or {}),
                   timing=TimingSpec.model_validate(d.get("timing") or {}))


def _expand(packed: str) -> bytes:
    """A compressed dispatch's JSON, never more than MAX_EXPANDED_BYTES (metadata is input)."""
    try:
        z = zlib.decompressobj()
        text = z.decompress(base64.b64decode(packed, validate=True), MAX_EXPANDED_BYTES)
    except (binascii.Error, zlib.error) as e:
        raise ValueError(f"damaged compressed dispatch: {e}") from None
    if z.unconsumed_tail or not z.eof:
        raise ValueError(f"a compressed dispatch expands beyond {MAX_EXPANDED_BYTES} bytes, or is cut short")
    return text


@dataclass
class Line:
    """A line as announced: words are (word, start, end) seconds from the line's first sample."""

    role: str
    id: int
    kind: str  # "turn" or "backchannel"
    text: str
    words: list[tuple[str, float, float]] | None
    duration: float  # seconds of audio
    late: float = 0.0  # how much later than the model asked it started (s)
    at: float = field(default=0.0, compare=False)  # when it started, on the clock of whoever holds it

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "text": self.text, "duration": round(self.duration, 3),
                "words": [[w, round(a, 3), round(b, 3)] for w, a, b in self.words] if self.words else None,
                "late": round(self.late, 3)}

    @classmethod
    def from_dict(cls, role: str, d: dict, at: float) -> Line:
        words = [(str(w), float(a), float(b)) for w, a, b in d["words"]] if d.get("words") else None
        return cls(role=role, id=int(d["id"]), kind=str(d.get("kind", "turn")), text=str(d.get("text", "")),
                   words=words, duration=float(d.get("duration", 0.0)), late=float(d.get("late", 0.0)), at=at)

    @property
    def speech(self) -> tuple[float, float]:
        """Where its speech starts and ends, seconds from its first sample."""
        if self.words:
            return self.words[0][1], self.words[-1][2]
        return 0.0, self.duration

    def said(self, played: float) -> str:
        """Its words that had started by `played` seconds (the text of a cut line)."""
        if not self.words:
            return self.text
        return " ".join(w for w, a, _ in self.words if a < played - BEGUN_S).rstrip(",;:")
