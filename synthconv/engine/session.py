"""What every engine's AgentSession shares when its peer is another agent, not a person:
session options, the VAD, who the agent is told it is, and opening the call."""

from __future__ import annotations

import re
import threading
from typing import Any

from livekit.agents import Agent

from .base import Speaker

# The first sentence of every engine's instructions. A contract beyond synthconv: the OpenAI
# loopback server of the tests (tests/openai_loopback/dialogue.py) reads the persona and role
# back out of it with IDENTITY_PATTERN, so change the two together.
IDENTITY = "You are {name}, the {role} in this call: {title}. Your goal: {goal} Facts only you know: {facts}."
IDENTITY_PATTERN = re.compile(r"You are (?P<name>.+?), the (?P<role>.+?) in this call: ")

# The peer silent this long after our line (both silent): the line was lost somewhere (an STT
# that heard nothing in it, a VAD that missed its end), and whoever spoke last checks in, as
# people on a phone do. CHECK_IN is what an agent that hears by VAD is told to say then; the
# loopback server of the tests answers it with a "Hello?" line, so change the two together.
STALL_S = 8.0
CHECK_IN = ("The other person has said nothing for a while since your last turn. Check that they are "
            "still on the line, in one short sentence, in the language of the call.")

# Seconds of the peer's speech over our own before we stop talking (barge-in in a room). The
# overlapped speaker drops out within one or two syllables (Schegloff 2000); the room's audio path
# adds about 0.1 s to this.
YIELD_AFTER_S = 0.25


def session_options(barge_in: bool = False, turn_detection: str = "vad") -> dict:
    """AgentSession keyword arguments for agent-to-agent calls.

    - Turns are found by VAD on the peer's audio; no cloud turn detector. ("manual": a room's
      floor says when to reply, transport/floor.py.)
    - No AEC warm-up: the peer's first words would otherwise be replaced by silence.
    - No preemptive generation, no "user away" timer: two agents take turns.
    - Interruptions only with `barge_in` (natural turn-taking in a room, where the peer may cut
      in): the session then stops speaking once it hears YIELD_AFTER_S of the peer, found by
      our VAD (not livekit's adaptive detector, a cloud model), and never resumes the cut line
      (the policy says it again). On the local bridge the bridge itself cuts the audio.
    """
    interruption: dict[str, Any] = {"enabled": False, "discard_audio_if_uninterruptible": False, "resume_false_interruption": False}
    if barge_in:
        interruption.update(enabled=True, mode="vad", min_duration=YIELD_AFTER_S, false_interruption_timeout=None)
    return {
        "turn_handling": {
            "turn_detection": turn_detection,
            "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
            "interruption": interruption,
            "preemptive_generation": {"enabled": False},
        },
        "aec_warmup_duration": None,
        "user_away_timeout": None,
        "session_close_transcript_timeout": 0.1,  # nothing is left to transcribe at hang-up
    }


_vads: dict[float, object] = {}
_vad_lock = threading.Lock()


def silero_vad(min_silence: float = 0.6):  # noqa: ANN201 - silero's VAD type
    """One silero model per process and silence length, shared by every engine that finds turns
    by VAD; each session opens its own stream on it. A speech segment ends after `min_silence`
    of silence."""
    with _vad_lock:
        if min_silence not in _vads:
            from livekit.plugins import silero

            _vads[min_silence] = silero.VAD.load(min_silence_duration=min_silence)
        return _vads[min_silence]


def identity_prompt(speaker: Speaker) -> str:
    """Who `speaker` is, its goal and the facts only it knows (see IDENTITY)."""
    role = speaker.scenario.roles[speaker.role]
    facts = "; ".join(f"{k}: {v}" for k, v in speaker.facts.items())
    return IDENTITY.format(name=speaker.persona.name, role=role.label, title=speaker.scenario.title,
                           goal=role.goal, facts=facts)


class RoleAgent(Agent):
    """One side of the call; the first speaker opens it as soon as it is live."""

    def __init__(self, instructions: str, opens: bool, peer_ready=None, floor=None) -> None:  # noqa: ANN001
        super().__init__(instructions=instructions)
        self._opens = opens
        self._peer_ready = peer_ready
        self.floor = floor  # a room's floor (transport/floor.py): holds each line until it is due
        self.intended = ""  # the whole of the line being said: a cut line's transcript is shorter

    async def transcription_node(self, text, model_settings):  # noqa: ANN001, ANN201
        self.intended = ""
        async for chunk in Agent.default.transcription_node(self, text, model_settings):
            self.intended += str(chunk)
            yield chunk

    async def tts_node(self, text, model_settings):  # noqa: ANN001, ANN201
        """The line's audio; in a room with a floor, made whole first and held until it is due
        (espeak speaks a line in a few milliseconds), then announced as it starts."""
        if self.floor is None:
            async for frame in Agent.default.tts_node(self, text, model_settings):
                yield frame
            return
        from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT

        frames, words = [], []
        async for frame in Agent.default.tts_node(self, text, model_settings):
            frames.append(frame)
            words += [(str(t).strip(), float(t.start_time), float(t.end_time))
                      for t in frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]
        if not frames:
            return
        await self.floor.release(" ".join(w for w, _, _ in words), [w for w in words if w[0]] or None,
                                 sum(f.duration for f in frames))
        for frame in frames:
            yield frame

    @classmethod
    def for_speaker(cls, speaker: Speaker) -> RoleAgent:
        """The agent of `speaker`, told only who it is (its identity_prompt)."""
        return cls(identity_prompt(speaker), opens=speaker.role == speaker.scenario.first_speaker,
                   peer_ready=speaker.peer_ready, floor=speaker.floor)

    async def on_enter(self) -> None:
        if self._opens:
            if self._peer_ready is not None:
                await self._peer_ready()
            self.session.generate_reply()
