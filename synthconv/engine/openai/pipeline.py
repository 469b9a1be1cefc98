"""The `openai-pipeline` engine: openai STT, LLM and TTS plugins with silero VAD, each part with
its own model and (optionally) its own base URL, so a local OpenAI-compatible LLM server can be
mixed with hosted speech. `heard` is the STT's real transcription of the peer's audio."""

from __future__ import annotations

from livekit.agents import Agent, AgentSession
from livekit.plugins import openai as lk_openai  # at import, on the main thread: see __init__

from ...scenario import Persona
from ..base import Speaker
from ..session import session_options, silero_vad
from .agent import OpenAIRoleAgent
from .base import SPEED, _OpenAIEngine


class OpenAIPipelineEngine(_OpenAIEngine):
    """openai STT + LLM + TTS plugins, silero VAD."""

    name = "openai-pipeline"
    parts = ("stt", "llm", "tts")

    def warm_up(self, hears_audio: bool = True) -> None:
        silero_vad()

    def voice(self, persona: Persona) -> dict:
        tts = self.config.parts["tts"]
        return {"engine": "openai-tts", "model": tts.model, "voice": persona.voice.openai,
                "speed": SPEED[persona.style.pace], "format": self.config.tts_format}

    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        from livekit.agents.voice.agent_session import SessionConnectOptions

        cfg = self.config
        clients = {p: cfg.client(p) for p in self.parts}
        persona = speaker.persona
        tts_kwargs = {}
        if cfg.parts["tts"].model.startswith("gpt-"):  # tts-1 takes no instructions
            tts_kwargs["instructions"] = (f"Speak as {persona.name}, a {persona.style.mood} "
                                          f"{speaker.scenario.roles[speaker.role].label.lower()} on a phone call, "
                                          f"at a {persona.style.pace} pace.")
        conn = cfg.conn_options()
        session = AgentSession(
            stt=lk_openai.STT(model=cfg.parts["stt"].model, language=speaker.scenario.language,
                              client=clients["stt"]),
            llm=lk_openai.LLM(model=cfg.parts["llm"].model, client=clients["llm"]),
            tts=lk_openai.TTS(model=cfg.parts["tts"].model, voice=persona.voice.openai,
                              speed=SPEED[persona.style.pace], response_format=cfg.tts_format,
                              client=clients["tts"], **tts_kwargs),
            vad=silero_vad(),
            conn_options=SessionConnectOptions(stt_conn_options=conn, llm_conn_options=conn,
                                               tts_conn_options=conn, max_unrecoverable_errors=0),
            **session_options(barge_in=speaker.barge_in),
        )
        self._watch(session, speaker, list(clients.values()))
        return session, OpenAIRoleAgent(speaker)
