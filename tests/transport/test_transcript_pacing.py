"""An agent's synced transcript without livekit-agents' speaking-rate estimate
(livekit_agent.pace_transcripts_by_length): words are paced by the line's average rate, so the
text up to a cut is the part that played, and no spectral analysis runs on the job's loop."""

import asyncio
import time

import numpy as np
from livekit import rtc
from livekit.agents import tokenize
from livekit.agents.voice.transcription import _speaking_rate, synchronizer

from synthconv.transport.livekit_agent import pace_transcripts_by_length

RATE = 24000


def test_a_cut_line_keeps_the_words_that_played_and_no_rate_estimate_runs(monkeypatch):
    estimates = []
    monkeypatch.setattr(_speaking_rate.SpeakingRateStream, "_spectral_flux",
                        lambda self, audio, rate: estimates.append(1) or 1.0)
    monkeypatch.setattr(synchronizer, "SpeakingRateDetector", synchronizer.SpeakingRateDetector)  # undone after
    pace_transcripts_by_length()

    async def cut_after(words: int, line_s: float, played_s: float) -> str:
        opts = synchronizer._TextSyncOptions(
            speed=1.0, hyphenate_word=tokenize.basic.hyphenate_word,
            word_tokenizer=tokenize.basic.WordTokenizer(retain_format=True, ignore_punctuation=False, split_character=True),
            speaking_rate_detector=synchronizer.SpeakingRateDetector())
        line = synchronizer._SegmentSynchronizerImpl(opts, next_in_chain=None)
        line.push_text(" ".join(["word"] * words) + ".")
        line.end_text_input()
        tone = (np.sin(np.arange(RATE // 10) * 0.05) * 8000).astype(np.int16).tobytes()  # 100 ms frames
        for _ in range(int(line_s * 10)):
            line.push_audio(rtc.AudioFrame(tone, RATE, 1, RATE // 10))
        line.end_audio_input()
        line.on_playback_started(time.time())
        await asyncio.sleep(played_s)
        line.mark_playback_finished(playback_position=played_s, interrupted=True)
        cut = line.synchronized_transcript
        await line.aclose()
        return cut

    cut = asyncio.run(cut_after(words=20, line_s=4.0, played_s=2.0))
    assert 8 <= len(cut.split()) <= 12, cut  # half the line played: about half its words
    assert estimates == []  # no speaking-rate estimate ran
