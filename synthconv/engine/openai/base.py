"""What both OpenAI engines share: their settings, the checks before a run, the estimate of the
API audio minutes a run costs, and failing a job cleanly when a part gives up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from livekit.agents import AgentSession

from ...scenario import Library, Persona, Scenario
from ..base import Engine, EngineError, Speaker
from .config import TTS_FORMATS, OpenAIConfig, redact_url
from .errors import job_error

log = logging.getLogger("synthconv.openai")

SPEED = {"slow": 0.9, "normal": 1.0, "fast": 1.1}  # a persona's pace as the voice's speed
WORDS_PER_SECOND = 2.5  # conversational speech, about 150 words a minute


class _OpenAIEngine(Engine):
    parts: tuple[str, ...] = ()

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self._settings = dict(settings or {})  # given on the command line: over the environment's
        self._config: OpenAIConfig | None = None

    @property
    def config(self) -> OpenAIConfig:
        if self._config is None:
            self._config = OpenAIConfig.from_env(self._settings)
        return self._config

    def check(self, personas: list[Persona]) -> None:
        cfg = self._config = OpenAIConfig.from_env(self._settings)
        hosted = [p for p in self.parts if cfg.parts[p].hosted]
        if hosted and not cfg.api_key:
            raise EngineError(f"{self.name}: OPENAI_API_KEY is not set; export it, or point --base-url "
                              "(OPENAI_BASE_URL) at an OpenAI-compatible server")
        for part in self.parts:
            url = cfg.parts[part].base_url
            if urlsplit(url).scheme not in ("http", "https", "ws", "wss") or not urlsplit(url).hostname:
                raise EngineError(f"{self.name}: base URL of the {part} is not an http(s) URL: {redact_url(url)!r}")
        if "tts" in self.parts and cfg.tts_format not in TTS_FORMATS:
            raise EngineError(f"SYNTHCONV_OPENAI_TTS_FORMAT: {cfg.tts_format!r} is not one of {', '.join(TTS_FORMATS)}")
        for p in personas:
            if not p.voice.openai:
                raise EngineError(f"persona {p.id}: no OpenAI voice (voice.openai)")

    # cost ----------------------------------------------------------------------------------

    @staticmethod
    def speech_seconds(scenario: Scenario) -> float:
        """About how long one conversation of `scenario` speaks: its script's lines, 1.5x for
        models being wordier than the script."""
        words = 0.0
        for beat in scenario.script:
            words += sum(len(s.split()) for s in beat.say) / len(beat.say)
        return 1.5 * words / WORDS_PER_SECOND

    def cost_estimate(self, jobs: list, library: Library) -> tuple[float, float, str]:
        """(API audio minutes, the threshold above which to ask, a one-line summary).

        Every second one agent speaks is generated once (TTS / Realtime output) and heard once
        (STT / Realtime input) by the other agent."""
        spoken = sum(self.speech_seconds(library.scenarios[j.scenario]) for j in jobs) / 60
        minutes = 2 * spoken
        models = ", ".join(f"{p} {self.config.parts[p].model}" for p in self.parts)
        line = (f"{self.name} ({models}): {len(jobs)} conversations, about {minutes:.0f} API audio minutes "
                f"({spoken:.0f} spoken + {spoken:.0f} heard)")
        return minutes, self.config.confirm_minutes, line

    # errors --------------------------------------------------------------------------------

    def _watch(self, session: AgentSession, speaker: Speaker, clients: list) -> None:
        """Fail the job cleanly when a part gives up after its retries; close our SDK clients."""

        def on_error(ev) -> None:  # noqa: ANN001 - livekit ErrorEvent
            err = ev.error
            if getattr(err, "recoverable", True):
                self._recoverable(session, speaker, err)
                return
            self._fail(speaker, job_error(self.config, err))

        def on_close(_ev) -> None:  # noqa: ANN001
            for c in clients:
                asyncio.get_event_loop().create_task(c.close())

        session.on("error", on_error)
        session.on("close", on_close)

    def _recoverable(self, session: AgentSession, speaker: Speaker, err) -> None:  # noqa: ANN001
        pass

    @staticmethod
    def _fail(speaker: Speaker, error: BaseException) -> None:
        log.error("%s: giving up: %s", speaker.role, error)
        speaker.call.fail(error)  # the transport ends the conversation and the job fails with `error`
