"""Rooms wait their turn for agent workers: one room of a run asks for agents at a time.

A LiveKit worker that is full takes no job, and livekit-server then drops the dispatch
(worker_load.py). A room whose agents were not accepted asks again until they are; it must not
hold a half-accepted pair meanwhile while other rooms do the same, or every room could end up
with one agent each and no capacity left for any second one. So the rooms of a run queue: the
supervisor hands a turn to one room at a time, first come first served; that room dispatches
until both roles were accepted (its call's clock starts then) and passes the turn on.

Messages on the runner's pipe, `Admit(kind)`: runner -> supervisor "ask", "waiting" (no worker
had room on the first try), "admitted"; supervisor -> runner "go", "give-up" (no worker took it
for too long: the job fails, transient).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Admit:
    """Either way: a room's turn to ask for agent workers: "ask", "waiting", "admitted" from the
    runner; "go", "give-up" from the supervisor."""

    kind: str


class Admission:
    """One room's place in the queue. This base class is for a room alone (nobody to queue with)."""

    async def turn(self) -> None:
        """Wait until this room may dispatch its agents."""

    def waiting(self) -> None:
        """No worker had room for both agents yet; the room keeps asking."""

    def given_up(self) -> bool:
        """Whether the supervisor gave up on this room."""
        return False

    def admitted(self) -> None:
        """Both roles were accepted: the next room may ask."""


class PipeAdmission(Admission):
    """The runner's side, over its pipe to the supervisor (supervisor.py serves the queue)."""

    def __init__(self, conn) -> None:  # noqa: ANN001 - a multiprocessing Connection
        self.conn = conn
        self._gave_up = False

    async def turn(self) -> None:
        self.conn.send(Admit("ask"))
        while True:
            msg = await asyncio.to_thread(self.conn.recv)
            if isinstance(msg, Admit) and msg.kind in ("go", "give-up"):
                self._gave_up = msg.kind == "give-up"
                return

    def waiting(self) -> None:
        self.conn.send(Admit("waiting"))

    def given_up(self) -> bool:
        while not self._gave_up and self.conn.poll():
            msg = self.conn.recv()
            self._gave_up = isinstance(msg, Admit) and msg.kind == "give-up"
        return self._gave_up

    def admitted(self) -> None:
        self.conn.send(Admit("admitted"))
