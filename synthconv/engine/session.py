"""What every engine's AgentSession shares when its peer is another agent, not a person."""

from __future__ import annotations

from livekit.agents import Agent

from .base import Speaker


def session_options() -> dict:
    """AgentSession keyword arguments for agent-to-agent calls.

    - Turns are found by VAD on the peer's audio; no cloud turn detector.
    - No AEC warm-up: the peer's first words would otherwise be replaced by silence.
    - No interruptions, no preemptive generation, no "user away" timer: two agents take turns.
    """
    return {
        "turn_handling": {
            "turn_detection": "vad",
            "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
            "interruption": {
                "enabled": False,
                "discard_audio_if_uninterruptible": False,
                "resume_false_interruption": False,
            },
            "preemptive_generation": {"enabled": False},
        },
        "aec_warmup_duration": None,
        "user_away_timeout": None,
        "session_close_transcript_timeout": 0.1,  # nothing is left to transcribe at hang-up
    }


class RoleAgent(Agent):
    """One side of the call; the first speaker opens it as soon as it is live."""

    def __init__(self, instructions: str, opens: bool, peer_ready=None) -> None:  # noqa: ANN001
        super().__init__(instructions=instructions)
        self._opens = opens
        self._peer_ready = peer_ready

    @classmethod
    def for_speaker(cls, speaker: Speaker) -> RoleAgent:
        role = speaker.scenario.roles[speaker.role]
        facts = "; ".join(f"{k}: {v}" for k, v in speaker.facts.items())
        instructions = (
            f"You are {speaker.persona.name}, the {role.label} in this call: "
            f"{speaker.scenario.title}. Your goal: {role.goal} Facts only you know: {facts}."
        )
        return cls(instructions, opens=speaker.role == speaker.scenario.first_speaker,
                   peer_ready=speaker.peer_ready)

    async def on_enter(self) -> None:
        if self._opens:
            if self._peer_ready is not None:
                await self._peer_ready()
            self.session.generate_reply()
