"""What the offline engine's livekit plugins (TTS, STT, LLM) tell livekit-agents about themselves."""

from __future__ import annotations


class OfflinePlugin:
    """Mixed in before the livekit base class: the `model` and `provider` its metrics show."""

    MODEL = "unknown"

    @property
    def model(self) -> str:
        return self.MODEL

    @property
    def provider(self) -> str:
        return "synthconv-offline"
