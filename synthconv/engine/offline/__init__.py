"""The offline engine: espeak-ng speaks, silero VAD finds turns, a scripted policy thinks."""

from __future__ import annotations

from livekit.agents import Agent, AgentSession

from ..base import Engine, EngineError, Speaker
from ..session import RoleAgent, session_options, silero_vad
from .policy import DialoguePolicy
from .stt import TranscriptSTT
from .tts import Espeak, EspeakTTS


class OfflineEngine(Engine):
    name = "offline"

    def voice(self, persona) -> dict:  # noqa: ANN001
        return {"engine": "espeak-ng", **persona.voice.offline.model_dump()}

    def warm_up(self) -> None:
        silero_vad()
        Espeak.get()

    def check(self, personas) -> None:  # noqa: ANN001
        espeak = Espeak.get()
        for p in personas:
            if not espeak.has_voice(p.voice.offline.voice):
                raise EngineError(f"persona {p.id}: espeak-ng has no voice {p.voice.offline.voice!r}")

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        session = AgentSession(
            stt=TranscriptSTT(speaker.heard, language=speaker.scenario.language),
            vad=silero_vad(),
            llm=DialoguePolicy(
                scenario=speaker.scenario,
                role=speaker.role,
                persona=speaker.persona,
                facts=speaker.facts,
                seed=speaker.job.seed,
                call=speaker.call,
                disfluent=speaker.turn_taking == "natural",
            ),
            tts=EspeakTTS(speaker.persona.voice.offline),
            use_tts_aligned_transcript=True,  # espeak's word timings become the turn's words
            **session_options(),
        )
        return session, RoleAgent.for_speaker(speaker)
