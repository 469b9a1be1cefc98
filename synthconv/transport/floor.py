"""Who speaks when in a LiveKit room, for an agent whose turns follow the seeded model.

On the local bridge the bridge places every segment on its clock. In a room nobody owns both
tracks, so each agent takes the floor itself, the way people do: it hears where its peer's line
will end and comes in at an offset drawn from the same turn-taking model (transport/timing.py),
instead of waiting for a VAD's silence plus endpointing (about 0.9 s in a room).

- **Lines.** When an agent starts a line it announces it to its peer and to the observer
  (`LINE_TOPIC`): its text, the TTS-aligned times of its words and its length. That is what a
  listener hears of it, word by word, before the audio has finished arriving; the offline
  engine's "transcript" hearing already hears the published words.
- **Replies.** The listener answers a line at its end plus a drawn floor-transfer offset
  (negative: in overlap), its reply ready and held until that instant (RoleAgent.tts_node).
- **Cutting in.** On a drawn share of long lines it comes in at the start of word 5-9 with an
  answer to what it heard so far. The speaker, hearing a *turn* start over its own line while
  more than TERMINAL_S of that line remains, stops 0.15-0.45 s later (Schegloff 2000): its line
  is interrupted there. A reply that overlaps only the end of a line does not stop it.
- **Backchannels.** At the pauses of a long line the listener may say "mm-hmm" into its own
  track. It is announced as a backchannel, so the speaker does not yield to it and nobody
  answers it.

An agent in a room runs on its own clock: what it announces carries times relative to the
start of its line, and the listener places them from when the announcement arrived (the data
and the audio cross the same server; the measured difference is in README).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from livekit.agents import AgentSession
from livekit.agents.voice import SpeechHandle

from ..engine.base import CallControl
from .protocol import Line
from .timing import StrictTiming

log = logging.getLogger("synthconv.floor")

TERMINAL_S = 1.1  # a line with less than this left when the peer comes in is finished, not cut
# A reply is worked out this long before it is due (policy and espeak take ~0.05 s of CPU, Piper
# more, and many times that on a machine short of CPU: at 1.5 s two rooms of
# Piper voices on 2 cores fell 0.6-1.2 s behind), and held; at least PREP_MIN_S before it when a
# backchannel comes later (a held reply would hold up the backchannel: the session says one thing at a time).
PREP_S, PREP_MIN_S = 3.0, 0.5
BACKCHANNEL_S = 0.7  # a backchannel is said within this long
MIN_PAUSE_S = 0.12  # a pause between words where a listener may backchannel (as on the bridge)


class Floor:
    """One agent's turn-taking in a room: when its lines start, and when it yields."""

    def __init__(self, timing: StrictTiming, role: str, peer_role: str, call: CallControl, seed: int,
                 announce: Callable[[Line], None], heard: Callable[[int, str], None]) -> None:
        self.timing = timing
        self.role = role
        self.peer_role = peer_role
        self.call = call
        self.announce = announce  # tells the peer and the observer about a line as it starts
        self.heard = heard  # tells the observer what we heard of the peer's line (its id)
        self.session: AgentSession | None = None
        self._rng = random.Random(f"{seed}:yield:{role}")
        self._target: float | None = None  # when our pending reply's speech should start (monotonic)
        self._lines = 0
        self.current: Line | None = None  # our line being played, `at` its first sample
        self._speech: SpeechHandle | None = None  # the session's speech that plays it
        self._peer_lines = 0
        self.peer_until = 0.0  # when the peer's latest line ends, if it plays out (monotonic)
        self._cut_last = False  # we cut in on the peer's last line (its next one says it again)
        self._tasks: set[asyncio.Task] = set()
        # backchannel token -> its frames, word span and seconds, made once
        self._said_tokens: dict[str, tuple[list, list[tuple[str, float, float]] | None, float]] = {}

    # -- our lines ---------------------------------------------------------------------------

    async def release(self, text: str, words: list[tuple[str, float, float]] | None, duration: float,
                      kind: str = "turn") -> Line:
        """Wait until this line is due (its speech at the target) and announce it; the caller
        plays its audio from now on."""
        target, self._target = self._target, None
        lead = words[0][1] if words else 0.0
        late = 0.0
        if target is not None:
            wait = target - lead - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            late = max(0.0, -wait)
        line = Line(self.role, self._lines, kind, text, words, duration, late=late, at=time.monotonic())
        self._lines += 1
        self.current = line
        # the speech this line is made in (its tts_node runs inside it): a yield stops it alone
        self._speech = self.session.current_speech if self.session is not None else None
        self.announce(line)
        return line

    def speaking_left(self, at: float) -> float:
        """Seconds of our current line's speech still to come at `at` (0 if none)."""
        line = self.current
        return max(0.0, line.at + line.speech[1] - at) if line is not None else 0.0

    # -- the peer's lines --------------------------------------------------------------------

    def on_peer_line(self, line: Line) -> None:
        """The peer announced a line (`line.at`: when the announcement arrived, ~ its start)."""
        if self.session is None:
            return
        onset = line.at + line.speech[0]
        self.peer_until = max(self.peer_until, line.at + line.duration)
        cuts_us = line.kind == "turn" and self.speaking_left(onset) > TERMINAL_S
        if cuts_us:  # a turn, not "mm-hmm", started over our line: we stop, a syllable or two later
            self._spawn(self._yield(onset + self._rng.uniform(0.15, 0.45)))
        if line.kind != "turn":
            return
        self._peer_lines += 1
        words = line.words or []
        cut = None
        # never over the greeting, a line that cuts us off, the line that says again what we cut
        # off, or once the call is ending
        if self._peer_lines > 1 and not cuts_us and not self._cut_last and self.call.ending_role is None:
            k = self.timing.barge_in(self.peer_role)
            if k is not None and k + 2 < len(words) and line.speech[1] - words[k][1] > TERMINAL_S + 0.3:
                cut = k
        self._cut_last = cut is not None
        if cut is not None:
            target = line.at + words[cut][1]
            heard = " ".join(w for w, _, _ in words[:cut]).rstrip(",;:")
        else:
            offset = self.timing.offset(self.role, line.speech[1] - line.speech[0])
            target = line.at + line.speech[1] + offset
            heard = line.text
            # what bench/turn_taking.py --floor-log compares with the offsets the recording shows
            log.debug("%s: reply to %s line %d planned %+.3f s after its end: %.40s",
                      self.role, self.peer_role, line.id, offset, line.text)
        # "mm-hmm"s end before the peer's line does and well before our own next line starts (the
        # observer tells an agent's lines apart by their onsets)
        said = self._backchannel(line, min(target - PREP_MIN_S, line.at + line.speech[1]))
        prep = max(target - PREP_S, max(said, default=0.0) + BACKCHANNEL_S)
        self._spawn(self._reply(line.id, heard, target, min(prep, target - PREP_MIN_S)))

    def _backchannel(self, line: Line, until: float) -> list[float]:
        """Our "mm-hmm"s at the pauses of the peer's line, each over by `until`; when they start
        (monotonic)."""
        if not line.words:
            return []
        words = line.words
        pauses = [(a[2], b[1]) for a, b in zip(words, words[1:])
                  if b[1] - a[2] >= MIN_PAUSE_S and a[2] >= 1.0 and line.at + b[1] <= until - 0.5]
        starts = []
        for offset, token in self.timing.backchannels(self.peer_role, pauses):
            starts.append(line.at + offset)
            self._spawn(self._say_backchannel(token, line.at + offset, until))
        return starts

    async def _say_backchannel(self, token: str, at: float, until: float) -> None:
        frames, words, duration = await self._token(token)
        lead = words[0][1] if words else 0.0
        await asyncio.sleep(max(0.0, at - lead - time.monotonic()))
        now = time.monotonic()
        # not over our own line, not past `until`, not once the call is ending
        if (self.session is None or self.call.ending_role is not None or self.speaking_left(now) > 0
                or now + duration > until):
            return
        line = Line(self.role, self._lines, "backchannel", token, words, duration, at=now)
        self._lines += 1
        self.current = line
        self.announce(line)

        async def audio():  # noqa: ANN202
            for f in frames:
                yield f

        self._speech = self.session.say(token, audio=audio(), allow_interruptions=False, add_to_chat_ctx=False)

    async def _token(self, token: str) -> tuple[list, list[tuple[str, float, float]] | None, float]:
        """A backchannel token in our voice (frames, its word span, seconds), synthesized once."""
        if token not in self._said_tokens:
            from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT

            engine = self.session.tts if self.session is not None else None
            if engine is None:
                raise RuntimeError(f"{self.role}: no TTS to say the backchannel {token!r} with")
            frames, words = [], []
            async with engine.synthesize(token) as stream:
                async for ev in stream:
                    frames.append(ev.frame)
                    words += [(str(t).strip(), float(t.start_time), float(t.end_time))
                              for t in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]
            if words:  # the token is one word, however espeak split it
                words = [(token, words[0][1], words[-1][2])]
            self._said_tokens[token] = frames, words or None, sum(f.duration for f in frames)
        return self._said_tokens[token]

    async def _reply(self, line_id: int, heard: str, target: float, prep: float) -> None:
        await asyncio.sleep(max(0.0, prep - time.monotonic()))
        self.heard(line_id, heard)
        if self.session is None or self.call.ended:
            return
        self._target = target
        self.session.generate_reply(user_input=heard)

    async def _yield(self, at: float) -> None:
        """The peer came in over us: stop at `at` unless our line has ended by then."""
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if self.session is None or self.speaking_left(time.monotonic()) <= 0:
            return
        # that line only: `session.interrupt` would also drop the reply to the peer's line that
        # is being made (when that reply is our goodbye, nobody would end the call)
        if self._speech is not None and not self._speech.done():
            self._speech.interrupt(force=True)
        elif self._speech is None:
            await self.session.interrupt(force=True)

    def _spawn(self, coro) -> None:  # noqa: ANN001
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
