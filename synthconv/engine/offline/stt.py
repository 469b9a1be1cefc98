"""Hearing without a speech model: the words arrive as the speaker's published transcript.

LiveKit agents publish what they say as a transcription stream next to their audio track. This
STT plugin is handed each utterance's audio by the session's VAD (the turn is detected from the
audio) and answers with the transcript the peer published for it. A real STT plugin drops in
at the same seam: the engine just builds the session with that STT instead.
"""

from __future__ import annotations

from livekit.agents import APIConnectOptions, LanguageCode, stt, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from ..base import TranscriptChannel
from .plugin import OfflinePlugin


class TranscriptSTT(OfflinePlugin, stt.STT):
    MODEL = "published-transcript"

    def __init__(self, heard: TranscriptChannel, *, language: str, wait: float = 1.0) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._heard = heard
        self._language = language
        self._wait = wait

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        text = await self._heard.take(wait=self._wait)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=LanguageCode(self._language), text=text)],
        )
