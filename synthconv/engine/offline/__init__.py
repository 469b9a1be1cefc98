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
        known: dict[str, bool] = {}  # a check loads espeak-ng (~15 ms): hundreds of drawn personas share voices
        for p in personas:
            name = p.voice.offline.voice
            if name not in known:
                known[name] = espeak.has_voice(name)
            if not known[name]:
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
                variant=speaker.job.variant,
            ),
            tts=EspeakTTS(speaker.persona.voice.offline),
            use_tts_aligned_transcript=True,  # espeak's word timings become the turn's words
            **session_options(),
        )
        return session, RoleAgent.for_speaker(speaker)
