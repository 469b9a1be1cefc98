"""The local transport: both AgentSessions in one process, joined by an in-process audio bridge.

The bridge owns the conversation's one sample clock. When a speaker's segment is complete it is
placed on that clock at an offset drawn from a seeded turn-taking model (transport/timing.py:
gaps and overlaps, interruptions, backchannels), written into the speaker's track, and handed to
the listener as audio frames (plus enough trailing silence for its VAD to close the turn)
together with the words that were spoken, the way a LiveKit agent publishes a transcription
next to its audio. Nothing waits for wall-clock playback, so a conversation runs as fast as the
machine allows and compute latency never shows up as silence.

An interrupted segment really ends at its cut: the track stops there, the listener hears only
what got out, and the speaker's session is told its playback was interrupted (its next line
repairs). A backchannel is said with the listener's own TTS into the listener's track during a
pause of the speaker's turn; like a LiveKit agent's uninterruptible speech, the speaker's
session does not take it as a turn (it is not delivered to its input).
"""

from __future__ import annotations

import asyncio

import numpy as np
from livekit.agents import tts

from ..engine.base import CallControl, Engine, Speaker, TranscriptChannel
from ..job import ResolvedJob
from ..recording import Recording, Turn, Word
from ..runfolder.audio import loud
from ..runfolder.labels import disfluencies
from .local_io import SAMPLE_RATE, BridgeInput, BridgeOutput, BridgeText, resample
from .timing import BEGUN_S, timing_model

FADE = SAMPLE_RATE // 100  # 10 ms fade where an interrupted segment is cut
MIN_PAUSE_S = 0.12  # a pause between words where a listener may backchannel
# how long the last line may take to be heard: a recognizer on a busy machine takes seconds, and a
# final turn cut off before it is heard would make a seed's transcript depend on the machine's load
FINAL_HEARD_S = 20.0


class Bridge:
    """One conversation's shared clock, tracks and routing between the two roles."""

    def __init__(self, played: ResolvedJob, turn_taking: str = "natural") -> None:
        self.played = played
        self.scenario = played.scenario
        self.personas = played.personas
        self.roles = played.roles
        self.timing = timing_model(turn_taking, played.job.seed, self.scenario, self.personas)
        self.call = CallControl()
        self.heard = {r: TranscriptChannel() for r in self.roles}
        self.inputs = {r: BridgeInput(r) for r in self.roles}
        self.outputs = {r: BridgeOutput(self.play, r) for r in self.roles}
        self.texts = {r: BridgeText(r) for r in self.roles}
        self.tts: dict[str, tts.TTS | None] = {r: None for r in self.roles}  # for backchannels
        self._said: dict[tuple[str, str], tuple[np.ndarray, list[Word] | None]] = {}
        self._segments: dict[str, list[tuple[int, np.ndarray]]] = {r: [] for r in self.roles}
        self._free = {r: 0 for r in self.roles}  # samples: where each role's own audio ends
        self._barge_in: dict[str, int] = {}  # role -> sample where it cuts in on its peer
        self.turns: list[Turn] = []
        self._last: tuple[str, int, int] | None = None  # the last turn: role, start, end samples
        self.finished = asyncio.Event()
        self._final_heard = asyncio.Event()

    def peer(self, role: str) -> str:
        return self.roles[1] if role == self.roles[0] else self.roles[0]

    def _start(self, role: str) -> int:
        """Where `role`'s next turn starts on the clock (samples)."""
        if self._last is None:
            return int(self.timing.lead_in() * SAMPLE_RATE)
        last_role, last_start, last_end = self._last
        if role in self._barge_in:
            start = self._barge_in.pop(role)
        elif last_role == role:  # a second turn in a row: a pause, never an overlap with itself
            start = last_end + int(max(0.2, self.timing.offset(role, 0.0)) * SAMPLE_RATE)
        else:
            start = last_end + int(self.timing.offset(role, (last_end - last_start) / SAMPLE_RATE) * SAMPLE_RATE)
        # nobody talks over their own audio, and a reply starts after the turn it answers does
        return max(start, self._free[role] + FADE, last_start + SAMPLE_RATE // 2)

    async def play(self, role: str, pcm: np.ndarray) -> tuple[float, bool]:
        """Place a finished segment on the clock and deliver it, with its words, to the peer.

        Returns how much of it was played (seconds) and whether the peer cut it off."""
        try:
            text, words = await asyncio.wait_for(self.texts[role].done.get(), timeout=5.0)
        except TimeoutError:
            text, words = "", None
        if self.call.ended:
            return 0.0, False  # spoken after the call ended: never recorded, never heard
        speech = np.flatnonzero(loud(pcm))  # a turn is its speech: from the first loud sample to the last
        if len(speech):
            pcm, lead = pcm[speech[0] : speech[-1] + 1], speech[0] / SAMPLE_RATE
            if words:
                words = [Word(w.word, max(0.0, w.start - lead), min(w.end - lead, len(pcm) / SAMPLE_RATE))
                         for w in words]
        peer = self.peer(role)
        n_turns = sum(t.kind == "turn" for t in self.turns)
        final = self.call.ending_role == role or self.scenario.turns.overrun(n_turns)
        start = self._start(role)
        intended = None
        # never cut off a greeting (a role's first turn) or a goodbye
        opening = not any(t.role == role and t.kind == "turn" for t in self.turns)
        cut = None if (final or opening or not words) else self.timing.cut(role, [(w.start, w.end) for w in words])
        if cut is not None and words is not None:  # a cut needs words
            pcm = pcm[: int(cut.stop * SAMPLE_RATE)].copy()
            pcm[-FADE:] = (pcm[-FADE:] * np.linspace(1, 0, len(pcm[-FADE:]))).astype(np.int16)
            pcm = pcm[: np.flatnonzero(loud(pcm))[-1] + 1]  # the fade's quiet end is not speech
            # the fade's quiet end is trimmed too: a word that had barely begun before it was not said
            said_s = len(pcm) / SAMPLE_RATE
            words = [Word(w.word, w.start, min(w.end, said_s)) for w in words[: cut.words] if w.start < said_s - BEGUN_S]
            intended, text = text, " ".join(w.word for w in words).rstrip(",;:")
            self._barge_in[peer] = start + int(cut.onset * SAMPLE_RATE)
            self.call.interrupted[role] = text
        self._segments[role].append((start, pcm))
        end = start + len(pcm)
        self._free[role], self._last = end, (role, start, end)
        at = start / SAMPLE_RATE
        self.turns.append(Turn(
            turn=len(self.turns), role=role, speaker=self.personas[role].name, text=text,
            start=round(at, 3), end=round(end / SAMPLE_RATE, 3), interrupted=cut is not None,
            heard=None, intended=intended,
            words=[Word(Word.bare(w.word), round(at + w.start, 3), round(at + w.end, 3)) for w in words]
            if words else None,
            disfluencies=disfluencies(text, self.scenario.language),
        ))
        if words and self.tts[peer] is not None and not final:
            await self._backchannel(peer, start, words, cut.onset if cut else len(pcm) / SAMPLE_RATE)
        self.heard[peer].put(text)
        self.inputs[peer].push(pcm)
        if final:
            self.call.end_after_turn(role, "bridge limit")  # no-op when the role said goodbye itself
            asyncio.get_running_loop().call_soon(self._finish_after_heard)
        return len(pcm) / SAMPLE_RATE, cut is not None

    async def _backchannel(self, listener: str, start: int, words: list[Word], until: float) -> None:
        """The listener's backchannels at the pauses of a segment that starts at `start`."""
        pauses = [(a.end, b.start) for a, b in zip(words, words[1:])
                  if b.start - a.end >= MIN_PAUSE_S and a.end >= 1.0 and b.start <= until - 0.5]
        for offset, token in self.timing.backchannels(self.peer(listener), pauses):
            pcm, spans = await self._say(listener, token)
            at = max(start + int(offset * SAMPLE_RATE), self._free[listener] + FADE)
            if not len(pcm) or at + len(pcm) > start + int(until * SAMPLE_RATE):
                continue  # it would run past the pause into the speaker's cut or its end
            self._segments[listener].append((at, pcm))
            self._free[listener] = at + len(pcm)
            t = at / SAMPLE_RATE
            self.turns.append(Turn(
                turn=len(self.turns), role=listener, speaker=self.personas[listener].name, text=token,
                start=round(t, 3), end=round((at + len(pcm)) / SAMPLE_RATE, 3), interrupted=False,
                heard=None, kind="backchannel",
                words=[Word(w.word, round(t + w.start, 3), round(t + w.end, 3)) for w in spans] if spans else None,
            ))

    async def _say(self, role: str, text: str) -> tuple[np.ndarray, list[Word] | None]:
        """`text` in `role`'s voice from its own TTS (cached: a token sounds the same each time)."""
        if (role, text) not in self._said:
            frames, words = [], []
            engine = self.tts[role]
            if engine is None:
                raise RuntimeError(f"{role} has no TTS of its own to say {text!r} with")
            async with engine.synthesize(text) as stream:
                async for ev in stream:
                    frames.append(np.frombuffer(ev.frame.data, dtype=np.int16))
                    rate = ev.frame.sample_rate
            pcm = resample(np.concatenate(frames), rate) if frames else np.zeros(0, np.int16)
            where = np.flatnonzero(loud(pcm))
            if len(where):
                pcm = pcm[where[0]: where[-1] + 1]
                words = [Word(text, 0.0, round(len(pcm) / SAMPLE_RATE, 3))]
            self._said[role, text] = pcm, words or None
        return self._said[role, text]

    def _finish_after_heard(self) -> None:
        async def wait() -> None:
            try:
                await asyncio.wait_for(self._final_heard.wait(), timeout=FINAL_HEARD_S)
            except TimeoutError:
                pass
            self.call.finish()
            self.finished.set()

        self._finish_task = asyncio.create_task(wait())

    def on_heard(self, listener: str, transcript: str) -> None:
        """The listener's STT produced a final transcript: attach it to the peer's last turn."""
        speaker = self.peer(listener)
        for turn in reversed(self.turns):
            if turn.role == speaker and turn.kind == "turn":
                turn.heard = transcript if turn.heard is None else f"{turn.heard} {transcript}"
                if self.call.ending_role == speaker and turn is self._last_turn():
                    self._final_heard.set()
                break

    def _last_turn(self) -> Turn | None:
        return next((t for t in reversed(self.turns) if t.kind == "turn"), None)

    def recording(self) -> Recording:
        length = max(self._free.values()) + int(self.timing.tail() * SAMPLE_RATE)
        tracks = {}
        for role in self.roles:
            track = np.zeros(length, dtype=np.int16)
            for start, pcm in self._segments[role]:
                track[start : start + len(pcm)] = pcm
            tracks[role] = track
        turns = sorted(self.turns, key=lambda t: (t.start, t.turn))
        for i, t in enumerate(turns):
            t.turn = i
        return Recording(sample_rate=SAMPLE_RATE, tracks=tracks, turns=turns, timing="modeled",
                         notes={"turn_taking": "natural" if self.timing.natural else "strict",
                                "ending": {"by": self.call.ending_role, "reason": self.call.ending_reason}})


async def converse(played: ResolvedJob, engine: Engine, timeout: float = 300.0,
                   turn_taking: str = "natural") -> Recording:
    """Run one conversation of `played` on the local bridge and return its recording."""
    bridge = Bridge(played, turn_taking)
    bridge.call.failure_listeners.append(lambda _error: bridge.finished.set())
    sessions: list[tuple] = []
    try:
        for role in bridge.roles:
            speaker = Speaker.of(played, role, heard=bridge.heard[role], call=bridge.call, turn_taking=turn_taking)
            session, agent = engine.build(speaker)
            bridge.tts[role] = session.tts if bridge.timing.natural else None
            session.input.audio = bridge.inputs[role]
            session.output.audio = bridge.outputs[role]
            session.output.transcription = bridge.texts[role]

            def on_transcribed(ev, role: str = role) -> None:  # noqa: ANN001
                if ev.is_final and ev.transcript.strip():
                    bridge.on_heard(role, ev.transcript.strip())

            session.on("user_input_transcribed", on_transcribed)
            sessions.append((session, agent))
        # the listener starts first so it is listening when the opener speaks
        for session, agent in reversed(sessions):
            await session.start(agent=agent)
        try:
            await asyncio.wait_for(bridge.finished.wait(), timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"conversation did not end within {timeout:g} s "
                               f"({sum(t.kind == 'turn' for t in bridge.turns)} turns)") from None
        if bridge.call.error is not None:
            raise bridge.call.error
    finally:
        bridge.call.finish()
        for inp in bridge.inputs.values():
            inp.close()
        await asyncio.gather(*(session.aclose() for session, _ in sessions))
    return bridge.recording()
