"""What the orchestrator (livekit.py) and the agents (livekit_agent.py) agree on in a room.

Names and records only, no plugin imports: the orchestrator and its hidden observer read these
without loading the agents' models.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass

from ..config import EngineSpec, TimingSpec
from ..job import ResolvedJob

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
