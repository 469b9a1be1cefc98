"""The offline engine: espeak-ng speaks, silero VAD finds turns, Whisper hears (English) or the
peer's published transcript stands in for hearing, a scripted policy thinks."""

from __future__ import annotations

from livekit.agents import Agent, AgentSession

from ..base import Engine, EngineError, Speaker
from ..session import RoleAgent, session_options, silero_vad
from .policy import DialoguePolicy
from .reactive import ReactivePolicy
from .stt import TranscriptSTT
from .tts import Espeak, EspeakTTS

HEARINGS = ("whisper", "transcript")


class OfflineEngine(Engine):
    name = "offline"
    cuts_in = True  # in a room it hears the peer's published transcript, word by word

    def __init__(self, hearing: str = "transcript") -> None:
        if hearing not in HEARINGS:
            raise EngineError(f"--hearing: unknown hearing {hearing!r} (choose from {', '.join(HEARINGS)})")
        self.hearing = hearing

    def hears(self, scenario) -> str:  # noqa: ANN001
        """How a role of `scenario` hears: Whisper where it knows the language, else the transcript."""
        from .whisper import LANGUAGES

        return "whisper" if self.hearing == "whisper" and scenario.language in LANGUAGES else "transcript"

    def notes(self, scenario) -> dict:  # noqa: ANN001
        hearing = self.hears(scenario)
        notes = {"hearing": {role: hearing for role in scenario.role_keys}}
        if hearing != self.hearing:
            notes["hearing_note"] = (f"no offline recognizer for language {scenario.language!r}: "
                                     "heard is the transcript the peer published")
        return notes

    def voice(self, persona) -> dict:  # noqa: ANN001
        return {"engine": "espeak-ng", **persona.voice.offline.model_dump()}

    def warm_up(self) -> None:
        silero_vad()
        Espeak.get()
        if self.hearing == "whisper":
            from .whisper import Whisper

            Whisper.get()

    def check(self, personas) -> None:  # noqa: ANN001
        if self.hearing == "whisper":
            from .whisper import model_dir

            model_dir()
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
            stt=self._stt(speaker),
            vad=silero_vad(),
            llm=(ReactivePolicy if speaker.reacts else DialoguePolicy)(
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
            **session_options(barge_in=speaker.barge_in),
        )
        return session, RoleAgent.for_speaker(speaker)

    def _stt(self, speaker: Speaker):  # noqa: ANN202 - an stt.STT
        if self.hears(speaker.scenario) == "whisper":
            from .whisper import WhisperSTT

            return WhisperSTT(language=speaker.scenario.language)
        return TranscriptSTT(speaker.heard, language=speaker.scenario.language)
