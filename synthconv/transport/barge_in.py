"""Cutting in on somebody else's agent in a LiveKit room (natural turn-taking; transport/caller.py).

On the local bridge the bridge itself cuts a speaker's audio; between two synthconv agents in a
room the floor does (floor.py), from the lines each announces. An agent under test announces
nothing, so the caller follows what it says as it plays. In a room nobody owns both tracks,
so an interruption is what it is between people: the listener starts talking over the speaker,
and the speaker, hearing that, stops.

- The listener follows the peer's `lk.transcription` stream, which livekit-agents paces with the
  audio it plays, word by word. Where the timing model says (`barge_in`: after word 5-9 of a
  turn, with the scenario's and persona's share of cut turns; never the line right after a cut,
  which says the cut line again), it answers what it has heard so far, at once and
  uninterruptibly (livekit waits for the peer's silence only before interruptible speech).
- The speaker's session runs with interruptions on (engine/session.py `session_options`): its
  VAD hears YIELD_AFTER_S of the listener, it stops, and its line enters the chat as
  `interrupted` with the words that were played.
- The rest of the cut line is not heard as a turn to answer: the listener has answered it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import rtc
from livekit.agents import AgentSession

from ..engine.base import CallControl
from .timing import StrictTiming


class BargeIn:
    """The listener's side of barge-in: follows the peer's lines and cuts in on some."""

    def __init__(self, timing: StrictTiming, role: str, peer_role: str, call: CallControl,
                 heard: Callable[[str], None]) -> None:
        self.timing = timing
        self.role = role
        self.peer_role = peer_role
        self.call = call
        self.heard = heard  # told what we heard of a line we cut in on
        self.session: AgentSession | None = None  # set once built; the peer's first line is never cut
        self.lines = 0
        self.cut_last = False  # whether we cut in on the peer's last line

    def _may_cut(self) -> bool:
        """Not while we speak, not once the call is ending, and not over a line that cut us off
        (it cannot be interrupted, and it is the peer's to finish)."""
        s = self.session
        return (s is not None and self.call.ending_role is None and s.agent_state == "listening"
                and self.role not in self.call.interrupted)

    async def follow(self, reader: rtc.TextStreamReader) -> str:
        """The peer's line as it is spoken; "" if we cut in on it (what we heard is answered)."""
        self.lines += 1
        after = self.timing.barge_in(self.peer_role) if self.lines > 1 else None
        if self.cut_last:
            after = None  # the peer is saying again what we cut off: let it finish
        text, reply, session = "", None, self.session
        async for chunk in reader:
            text += chunk
            if after is not None and reply is None and len(text.split()) > after and self._may_cut():
                # word `after` is out and the next one has started: come in now
                session = self.session
                assert session is not None  # _may_cut() checked it
                self.heard(text.strip())
                reply = session.generate_reply(user_input=text.strip(), allow_interruptions=False)
        self.cut_last = reply is not None
        if reply is None:
            return text.strip()
        assert session is not None  # the one that replied
        # the peer has stopped; once our VAD has heard the end of it, our line can be cut like any
        # other (an uninterruptible line would drop a turn the peer completes over it)
        for _ in range(100):
            if reply.done() or session.user_state != "speaking":
                break
            await asyncio.sleep(0.05)
        if not reply.done() and not reply.interrupted:
            reply.allow_interruptions = True
        return ""
