"""What the orchestrator (livekit.py) and the agents (livekit_agent.py) agree on in a room.

Names only, no plugin imports: the orchestrator and its hidden observer read these without
loading the agents' models.
"""

from __future__ import annotations

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
    """The hidden recorder of `room` (the only one the agents send `SAID_TOPIC`/`HEARD_TOPIC` to)."""
    return f"observer-{room}"
