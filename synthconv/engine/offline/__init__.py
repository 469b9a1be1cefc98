"""The offline engine: Piper (a neural voice from the catalog) or espeak-ng speaks, silero VAD
finds turns, Whisper hears (English) or the peer's published transcript stands in for hearing, a
scripted policy thinks."""

from __future__ import annotations

from typing import Any

from livekit.agents import Agent, AgentSession

from ...voices import Catalog, Voice
from ..base import Engine, EngineError, Speaker
from ..session import RoleAgent, session_options, silero_vad
from .policy import DialoguePolicy
from .reactive import ReactivePolicy
from .speaking import OfflineTTS, Speech
from .stt import TranscriptSTT
from .tts import Espeak, EspeakSpeech

HEARINGS = ("whisper", "transcript")
PRELOADED_MODELS = 2  # Piper models a process loads before its first job (about 130 MB each)
LICENCES = {"piper": "GPL-3.0-or-later (piper-tts)", "espeak-ng": "GPL-3.0-or-later"}
# Silence that ends a speech segment for an offline listener: longer than the pauses an espeak line
# holds (tts.MAX_PAUSE_S, 0.55 s) plus silero's tail, so a line reaches the recognizer whole.
MIN_SILENCE_S = 0.9


class OfflineEngine(Engine):
    name = "offline"
    scheduled = True  # in a room it hears the peer's announced lines: the floor times its turns

    def __init__(self, hearing: str = "transcript", tts: str = "auto") -> None:
        """`tts`: auto (a persona's catalog voice where it has one, else espeak-ng) or espeak."""
        if hearing not in HEARINGS:
            raise EngineError(f"--hearing: unknown hearing {hearing!r} (choose from {', '.join(HEARINGS)})")
        self.hearing, self.tts = hearing, tts
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        """The voices of this machine (voices.py), read once."""
        if self._catalog is None:
            from ...errors import LibraryError

            try:
                self._catalog = Catalog.load()
            except LibraryError as e:
                raise EngineError(str(e)) from None
        return self._catalog

    def neural(self, persona) -> Voice | None:  # noqa: ANN001
        """The catalog voice `persona` speaks with, or None for espeak-ng."""
        piper = persona.voice.piper
        if piper is None or self.tts == "espeak":
            return None
        voice = self.catalog.get(piper.voice)
        if voice is None:
            raise EngineError(f"persona {persona.id}: voice {piper.voice!r} is not in the voice catalog "
                              f"(see `synthconv voices`; add its folder with --voices-dir)")
        return voice

    def hears(self, scenario) -> str:  # noqa: ANN001
        """How a role of `scenario` hears: Whisper where it knows the language, else the transcript."""
        from .whisper import LANGUAGES

        return "whisper" if self.hearing == "whisper" and scenario.language in LANGUAGES else "transcript"

    def notes(self, scenario) -> dict:  # noqa: ANN001
        hearing = self.hears(scenario)
        notes: dict[str, Any] = {"hearing": {role: hearing for role in scenario.role_keys}}
        if hearing != self.hearing:
            notes["hearing_note"] = (f"no offline recognizer for language {scenario.language!r}: "
                                     "heard is the transcript the peer published")
        return notes

    def voice(self, persona) -> dict:  # noqa: ANN001
        """Provenance and settings: engine and its licence, model, speaker, the voice's licence."""
        neural = self.neural(persona)
        if neural is None:
            return {"engine": "espeak-ng", "engine_licence": LICENCES["espeak-ng"], "model": "espeak-ng",
                    "speaker": None, "licence": "GPL-3.0-or-later (espeak-ng voice data)",
                    **persona.voice.offline.model_dump()}
        return {"engine_licence": LICENCES["piper"], **neural.provenance(), **persona.voice.piper.model_dump()}

    def speech(self, persona, seed: str) -> Speech:  # noqa: ANN001
        neural = self.neural(persona)
        if neural is None:
            return EspeakSpeech(persona.voice.offline, seed)
        from .piper import PiperSpeech

        if neural.model_path is None or neural.config_path is None:
            raise EngineError(f"persona {persona.id}: voice {neural.name} has no model files")
        return PiperSpeech(persona.voice.piper, neural.model_path, neural.config_path, neural.speaker_id, seed,
                           neural.language)

    def warm_up(self, hears_audio: bool = True) -> None:
        Espeak.get()
        if self.tts == "auto":  # load the catalog's first models now, not during a room's first turn
            from .piper import PiperModel

            models = sorted({(v.model_path, v.config_path) for v in self.catalog.voices.values()
                             if v.model_path is not None and v.config_path is not None})  # the catalog's all have them
            for model, config in models[:PRELOADED_MODELS]:
                PiperModel.get(model, config)
        if not hears_audio:
            return
        silero_vad(MIN_SILENCE_S)
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
            if self.neural(p) is not None:
                continue
            name = p.voice.offline.voice
            if name not in known:
                known[name] = espeak.has_voice(name)
            if not known[name]:
                raise EngineError(f"persona {p.id}: espeak-ng has no voice {p.voice.offline.voice!r}")

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        if speaker.floor is not None:  # a room's floor decides when to speak, from the peer's announced lines
            hearing = {"stt": None, "vad": None, **session_options(turn_detection="manual")}
        else:
            hearing = {"stt": self._stt(speaker), "vad": silero_vad(MIN_SILENCE_S),
                       **session_options(barge_in=speaker.barge_in)}
        session = AgentSession(
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
            tts=OfflineTTS(self.speech(speaker.persona, f"{speaker.job.seed}:{speaker.role}")),
            use_tts_aligned_transcript=True,  # the voice's word timings become the turn's words
            **hearing,
        )
        return session, RoleAgent.for_speaker(speaker)

    def _stt(self, speaker: Speaker):  # noqa: ANN202 - an stt.STT
        if self.hears(speaker.scenario) == "whisper":
            from .whisper import WhisperSTT

            return WhisperSTT(language=speaker.scenario.language)
        return TranscriptSTT(speaker.heard, language=speaker.scenario.language)
