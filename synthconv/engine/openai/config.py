"""The OpenAI engines' settings: the command line's (config.OpenAISettings, which a LiveKit
dispatch carries to workers on other machines, without credentials) over the environment's:

    OPENAI_API_KEY, OPENAI_BASE_URL
    SYNTHCONV_OPENAI_{LLM,STT,TTS,REALTIME}_MODEL     per-part model
    SYNTHCONV_OPENAI_{LLM,STT,TTS,REALTIME}_BASE_URL  per-part base URL (else OPENAI_BASE_URL)
    SYNTHCONV_OPENAI_TTS_FORMAT        pcm (default), wav, mp3, opus, aac, flac
    SYNTHCONV_OPENAI_MAX_RETRIES       retries of a rate-limited or failed request (default 3)
    SYNTHCONV_OPENAI_TIMEOUT           seconds per request (default 30)
    SYNTHCONV_OPENAI_VAD_SILENCE_MS    the Realtime server VAD's end-of-turn silence (default 600)
    SYNTHCONV_OPENAI_CONFIRM_MINUTES   estimated API audio minutes above which `--yes` is needed (60)

The key is read from the environment only; it is never written to run.json, logs or meta.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from livekit.agents import APIConnectOptions

from ..base import EngineError

OPENAI_API = "https://api.openai.com/v1"
# config.OpenAISettings field -> the environment variable that sets it
ENV = {"base_url": "OPENAI_BASE_URL", **{f"{part}_{what}": f"SYNTHCONV_OPENAI_{part.upper()}_{what.upper()}"
                                         for part in ("llm", "stt", "tts", "realtime") for what in ("base_url", "model")}}
DEFAULT_MODELS = {
    "llm": "gpt-4.1-mini",
    "stt": "gpt-4o-mini-transcribe",
    "tts": "gpt-4o-mini-tts",
    "realtime": "gpt-realtime",
}
TTS_FORMATS = ("pcm", "wav", "mp3", "opus", "aac", "flac")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def redact_url(url: str) -> str:
    """`url` without any user:password part (for run.json and messages)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


@dataclass(frozen=True)
class Part:
    """One part of an engine (llm, stt, tts or realtime): its model and where it is served."""

    name: str
    model: str
    base_url: str

    @property
    def hosted(self) -> bool:
        """Served by the OpenAI API itself (which needs OPENAI_API_KEY)."""
        return (urlsplit(self.base_url).hostname or "").endswith("api.openai.com")

    @property
    def where(self) -> str:
        """The part for an error message: "llm (gpt-4.1-mini at host:port)", no credentials."""
        return f"{self.name} ({self.model} at {urlsplit(self.base_url).netloc.rpartition('@')[2]})"


@dataclass(frozen=True)
class OpenAIConfig:
    api_key: str | None
    parts: dict[str, Part]
    tts_format: str
    max_retries: int
    timeout: float
    vad_silence_ms: int
    confirm_minutes: float

    @classmethod
    def from_env(cls, given: Mapping[str, str] | None = None) -> OpenAIConfig:
        """The environment's settings, under the ones `given` on the command line (config.py
        OpenAISettings: base_url, llm_model, ...). A given URL that arrived redacted (a dispatch
        never carries credentials) is taken from the environment when that is the same URL with
        its credentials."""
        given = dict(given or {})

        def setting(name: str) -> str | None:
            value, env = given.get(name), _env(ENV[name])
            if value and env and redact_url(env) == value:
                return env
            return value or env

        base = setting("base_url") or OPENAI_API
        parts = {name: Part(name=name, model=setting(f"{name}_model") or default,
                            base_url=setting(f"{name}_base_url") or base)
                 for name, default in DEFAULT_MODELS.items()}

        def number(name: str, default: float, kind=float):  # noqa: ANN001, ANN202
            raw = _env(name)
            try:
                return kind(raw) if raw is not None else default
            except ValueError:
                raise EngineError(f"{name}: not a number ({raw!r})") from None

        return cls(
            api_key=_env("OPENAI_API_KEY"),
            parts=parts,
            tts_format=(_env("SYNTHCONV_OPENAI_TTS_FORMAT") or "pcm").lower(),
            max_retries=number("SYNTHCONV_OPENAI_MAX_RETRIES", 3, int),
            timeout=number("SYNTHCONV_OPENAI_TIMEOUT", 30.0),
            vad_silence_ms=number("SYNTHCONV_OPENAI_VAD_SILENCE_MS", 600, int),
            confirm_minutes=number("SYNTHCONV_OPENAI_CONFIRM_MINUTES", 60.0),
        )

    def key(self) -> str:
        # OpenAI-compatible servers usually ignore the key, but the SDK insists on one
        return self.api_key or "no-key"

    def client(self, part: str):  # noqa: ANN201 - openai.AsyncClient
        """An OpenAI SDK client for one part. The SDK retries 408/409/429/5xx and dropped
        connections with exponential backoff (honouring Retry-After) before livekit's own retry."""
        import openai as openai_sdk

        return openai_sdk.AsyncClient(api_key=self.key(), base_url=self.parts[part].base_url,
                                      max_retries=self.max_retries, timeout=self.timeout)

    def conn_options(self) -> APIConnectOptions:
        # livekit's own retry wraps the SDK's: one more attempt after a short pause
        return APIConnectOptions(max_retry=1, retry_interval=2.0, timeout=self.timeout)
