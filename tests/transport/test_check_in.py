"""An agent that hears by VAD checks in on a silent peer (transport/livekit_agent.py CheckIn),
with a fake session: found at 8 rooms of the OpenAI pipeline, where a line the peer's STT heard
nothing in left both agents listening until the room failed as stalled."""

import asyncio
import types

from openai_loopback.dialogue import reply

from synthconv.engine.base import CallControl
from synthconv.engine.offline.reactive import HELLO
from synthconv.engine.session import CHECK_IN
from synthconv.transport import livekit_agent
from synthconv.transport.livekit_agent import CheckIn


class FakeSession:
    """What CheckIn reads of an AgentSession: both sides' states, its events, replies."""

    def __init__(self) -> None:
        self.agent_state = self.user_state = "listening"
        self.handlers: dict[str, list] = {}
        self.asked: list[str] = []

    def on(self, event: str, handler) -> None:  # noqa: ANN001
        self.handlers.setdefault(event, []).append(handler)

    def user(self, state: str) -> None:
        old, self.user_state = self.user_state, state
        for h in self.handlers.get("user_state_changed", []):
            h(types.SimpleNamespace(old_state=old, new_state=state))

    def generate_reply(self, *, instructions: str) -> None:
        self.asked.append(instructions)


async def _watch(check: CheckIn, seconds: float) -> None:
    task = asyncio.create_task(check.watch())
    await asyncio.sleep(seconds)
    task.cancel()


def test_whoever_spoke_last_checks_in_twice_then_leaves_it_to_the_rooms_stall(monkeypatch):
    monkeypatch.setattr(livekit_agent, "STALL_S", 0.6)

    async def go() -> None:
        session, call = FakeSession(), CallControl()
        check = CheckIn(session, call, "agent")
        await _watch(check, 1.2)
        assert session.asked == []  # nobody spoke yet: nothing to check
        check.said()  # our line played out; the peer says nothing
        await _watch(check, 2.3)
        assert session.asked == [CHECK_IN, CHECK_IN]  # twice, STALL_S apart, then no more
        session.user("speaking")  # the peer speaks again, then goes quiet: its turn to wait
        session.user("listening")
        await _watch(check, 1.2)
        assert len(session.asked) == 2
        check.said()  # we answered; the peer is silent again: we may check in again
        call.end_after_turn("customer")  # ... unless the call is ending
        await _watch(check, 1.2)
        assert len(session.asked) == 2

    asyncio.run(go())


def test_the_loopback_model_answers_a_check_in_with_a_hello():
    r = reply("You are Maya Chen, the Support agent in this call: x.\n" + CHECK_IN, [("assistant", "Hi.")],
              can_end_call=True, ended_call=False)
    assert r.text in HELLO and not r.end_call
