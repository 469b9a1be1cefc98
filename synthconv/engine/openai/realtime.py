"""The `openai-realtime` engine: each agent is an AgentSession on livekit-plugins-openai's
`RealtimeModel`, speaking with its persona's OpenAI voice. Turns are found by the model's server
VAD; the transcript is the model's transcription of its own speech and `heard` the peer's input
transcription. A failed response loses the turn, so it is asked for again here."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

from livekit.agents import Agent, AgentSession, APIConnectOptions
from livekit.plugins import openai as lk_openai  # at import, on the main thread: see __init__
from openai.types.realtime import AudioTranscription
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from ...scenario import Persona
from ..base import Speaker
from ..session import session_options
from .agent import OpenAIRoleAgent
from .base import SPEED, _OpenAIEngine, log
from .errors import OpenAIUnavailable


def realtime_session_options() -> dict:
    """session_options() for a Realtime model: the model's server VAD finds the turns, and
    livekit requires interruptions to be allowed with server-side turn detection."""
    opts = session_options()
    handling = dict(opts["turn_handling"])
    handling["turn_detection"] = "realtime_llm"
    handling["interruption"] = {**handling.get("interruption", {}), "enabled": True}
    handling.pop("endpointing", None)
    opts["turn_handling"] = handling
    return opts


class OpenAIRealtimeEngine(_OpenAIEngine):
    """Speech-to-speech: one OpenAI Realtime session per agent."""

    name = "openai-realtime"
    parts = ("realtime",)

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(settings)
        self._retries: dict[int, int] = {}  # failed responses in a row, per session
        self._tasks: set[asyncio.Task] = set()

    def voice(self, persona: Persona) -> dict:
        return {"engine": "openai-realtime", "model": self.config.parts["realtime"].model,
                "voice": persona.voice.openai, "speed": SPEED[persona.style.pace]}

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        cfg = self.config
        part = cfg.parts["realtime"]
        language = speaker.scenario.language
        model = lk_openai.realtime.RealtimeModel(
            model=part.model,
            voice=speaker.persona.voice.openai,
            speed=SPEED[speaker.persona.style.pace],
            base_url=part.base_url,
            api_key=cfg.key(),
            modalities=["audio"],
            turn_detection=ServerVad(type="server_vad", threshold=0.5, prefix_padding_ms=300,
                                     silence_duration_ms=cfg.vad_silence_ms, create_response=True,
                                     interrupt_response=True),
            input_audio_transcription=AudioTranscription(model=cfg.parts["stt"].model,
                                                         language=language.split("-")[0]),
            conn_options=APIConnectOptions(max_retry=cfg.max_retries, retry_interval=2.0, timeout=cfg.timeout),
        )
        session = AgentSession(llm=model, vad=None, **realtime_session_options())
        self._watch(session, speaker, [])

        @session.on("speech_created")
        def _hush(ev) -> None:  # noqa: ANN001
            # the server VAD answers whatever it hears; once the peer said goodbye, stay silent
            if not ev.user_initiated and speaker.call.ending_role not in (None, speaker.role):
                ev.speech_handle.interrupt(force=True)

        @session.on("agent_state_changed")
        def _spoke(ev) -> None:  # noqa: ANN001
            if ev.new_state == "speaking":
                self._retries[id(session)] = 0  # a response got through

        @session.on("close")
        def _closed(_ev) -> None:  # noqa: ANN001
            self._retries.pop(id(session), None)
            asyncio.get_event_loop().create_task(model.aclose())

        return session, OpenAIRoleAgent(speaker)

    def _recoverable(self, session: AgentSession, speaker: Speaker, err) -> None:  # noqa: ANN001
        """A Realtime response that failed (e.g. rate_limit_exceeded) loses the turn: ask again,
        with backoff, and give up after SYNTHCONV_OPENAI_MAX_RETRIES in a row."""
        error = getattr(err, "error", None)
        if "response failed" not in str(error):
            return  # connection retries are the plugin's own; other errors are informational
        n = self._retries.get(id(session), 0) + 1
        self._retries[id(session)] = n
        if n > self.config.max_retries:
            body = getattr(error, "body", None)
            code = getattr(body, "code", None) or getattr(body, "type", None) or "error"
            where = self.config.parts["realtime"].where
            self._fail(speaker, OpenAIUnavailable(f"{where}: response failed {n} times in a row ({code})"))
            return
        delay = min(30.0, 2.0 ** (n - 1)) * random.uniform(0.8, 1.2)
        log.warning("%s: Realtime response failed (%s); asking again in %.1f s", speaker.role, error, delay)

        async def again() -> None:
            await asyncio.sleep(delay)
            if not speaker.call.ended:
                session.generate_reply()

        task = asyncio.get_event_loop().create_task(again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
