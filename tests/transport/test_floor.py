"""The floor (transport/floor.py) with a fake session: what it stops when the peer comes in over
our line. Found in a room (seed 1, test-results): the peer came in over our line, our reply to it
was our goodbye, and the yield dropped that reply with the line; nobody said goodbye and the room
stalled for 90 s."""

import asyncio
import time

from synthconv.engine.base import CallControl
from synthconv.transport.floor import Floor
from synthconv.transport.protocol import Line


class FakeSpeech:
    def __init__(self) -> None:
        self.interrupted = False

    def done(self) -> bool:
        return self.interrupted

    def interrupt(self, *, force: bool = False) -> "FakeSpeech":
        self.interrupted = force
        return self


class FakeSession:
    """What the floor asks of an AgentSession: the speech playing, replies, interruptions."""

    def __init__(self) -> None:
        self.current_speech = FakeSpeech()
        self.replies: list[str] = []
        self.interrupted_all = False

    def generate_reply(self, *, user_input: str) -> None:
        self.replies.append(user_input)  # queued behind the speech playing, as livekit-agents does

    async def interrupt(self, *, force: bool = False) -> None:
        self.interrupted_all = True  # the speech playing and every speech queued behind it


class Timing:
    """Replies at once, never cuts in, never backchannels."""

    def barge_in(self, role: str) -> None:
        return None

    def offset(self, role: str, duration: float) -> float:
        return 0.0

    def backchannels(self, role: str, pauses: list) -> list:
        return []


def words(text: str, start: float = 0.1, each: float = 0.4) -> list[tuple[str, float, float]]:
    return [(w, start + i * each, start + i * each + 0.3) for i, w in enumerate(text.split())]


def test_a_yield_stops_our_line_and_keeps_the_reply_being_made():
    async def scenario() -> tuple[FakeSession, FakeSpeech]:
        session = FakeSession()
        floor = Floor(Timing(), "agent", "customer", CallControl(), seed=1,  # type: ignore[arg-type]
                      announce=lambda line: None, heard=lambda of, text: None)
        floor.session = session  # type: ignore[assignment]
        ours = session.current_speech
        said = words("your sample reached the lab fine it is only a short delay and nothing more to worry about")
        await floor.release(" ".join(w for w, _, _ in said), said, duration=said[-1][2] + 0.2)
        # the peer comes in one second into our eight-second line with a short line of its own:
        # we stop 0.15-0.45 s later, and our reply to it is worked out at once
        await asyncio.sleep(0.05)
        theirs = words("alright then monday it is")
        floor.on_peer_line(Line("customer", 3, "turn", "alright then monday it is", theirs,
                                theirs[-1][2] + 0.2, at=time.monotonic()))
        await asyncio.sleep(0.6)
        return session, ours

    session, ours = asyncio.run(scenario())
    assert ours.interrupted  # our line stopped
    assert not session.interrupted_all  # and only our line: the reply queued behind it stays
    assert session.replies == ["alright then monday it is"]
