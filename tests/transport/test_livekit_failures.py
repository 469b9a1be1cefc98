"""LiveKit failures a run notices fast and tries again (issue 27): a server node or its Redis
briefly gone is worth a fresh room, a request the server refuses as wrong is not; a room that
went quiet or went away under the observer fails at once instead of at --job-timeout. (The
cluster test shows them on real servers; these pin the rules, in this process.)"""

import asyncio
import time
from types import SimpleNamespace

import aiohttp
import pytest
from livekit import rtc
from livekit.api import TwirpError

from synthconv.errors import LiveKitError, transient
from synthconv.job import Job
from synthconv.transport import livekit
from synthconv.transport.livekit import Observer
from synthconv.transport.protocol import SAID_TOPIC

JOB = Job(id="refund-0123abcd", scenario="refund", roles={"agent": "agent-a", "customer": "cust-c"}, seed=1)


@pytest.mark.parametrize("error", [
    # what create_dispatch answered while Redis restarted (tests/cluster, restart-redis)
    TwirpError("unknown", "could not get node for room: dial tcp 10.201.0.2:6379: i/o timeout", status=500),
    TwirpError("unavailable", "no nodes available", status=503),
    TwirpError("deadline_exceeded", "request timed out", status=408),
    aiohttp.ServerDisconnectedError(),  # the node the API call went to went away
])
def test_a_server_briefly_unable_is_retried(error):
    assert transient(error)


@pytest.mark.parametrize("error", [
    TwirpError("invalid_argument", "metadata size exceeds limits", status=400),
    TwirpError("unauthenticated", "invalid token", status=401),
    TwirpError("permission_denied", "no permissions to access the room", status=403),
])
def test_a_request_the_server_refuses_is_final(error):
    assert not transient(error)


def watch(observer_setup, timeout: float) -> tuple[BaseException | None, float, Observer]:
    """Run Observer.until_changed with `observer_setup(observer, loop)` done first; what it
    raised, after how long, and the observer."""
    async def go() -> tuple[BaseException | None, float, Observer]:
        obs = Observer(["agent", "customer"], JOB)
        obs.t0 = time.monotonic()
        observer_setup(obs, asyncio.get_running_loop())
        t = time.monotonic()
        try:
            await obs.until_changed("room-1", timeout)
        except Exception as e:  # noqa: BLE001
            return e, time.monotonic() - t, obs
        return None, time.monotonic() - t, obs

    return asyncio.run(go())


class Text:
    """What the observer is handed for a text stream an agent sent it (rtc.TextStreamReader's part it reads)."""

    def __init__(self, topic: str, text: str) -> None:
        self.info = SimpleNamespace(topic=topic, attributes={})
        self.text = text

    async def read_all(self) -> str:
        return self.text


def say(obs: Observer, role: str = "agent") -> None:
    obs._on_text(Text(SAID_TOPIC, '{"id": 0, "text": "Hello."}'), f"{role}-{JOB.id}")


def test_a_room_where_nothing_is_said_any_more_fails_as_stalled(monkeypatch):
    monkeypatch.setattr(livekit, "STALL_S", 0.6)

    def talk_then_stop(obs, loop) -> None:  # a line after 0.5 s, then silence (a broken relay)
        loop.call_later(0.5, say, obs)

    error, after, _ = watch(talk_then_stop, timeout=30)
    assert isinstance(error, LiveKitError) and transient(error)
    assert "room-1 stalled: nothing said or heard for 0.6 s" in str(error)
    assert 1.0 <= after < 3.0  # counted from the last line, not from the start


def test_a_call_that_keeps_talking_runs_to_its_time_out(monkeypatch):
    monkeypatch.setattr(livekit, "STALL_S", 0.6)

    def keep_talking(obs, loop) -> None:
        def line() -> None:
            say(obs)
            loop.call_later(0.3, line)
        line()

    error, after, _ = watch(keep_talking, timeout=2.5)
    assert isinstance(error, TimeoutError) and "did not end within 2.5 s" in str(error)
    assert after >= 2.5


def test_the_observer_losing_the_room_ends_the_wait_at_once():
    def node_goes(obs, loop) -> None:
        loop.call_later(0.2, obs._on_lost, rtc.DisconnectReason.SIGNAL_CLOSE)

    error, after, obs = watch(node_goes, timeout=30)
    assert error is None and after < 1.5
    assert obs.lost == "SIGNAL_CLOSE"  # converse fails the job with it: "the observer lost room ..."
