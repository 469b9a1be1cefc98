"""The local bridge's clock, in milliseconds and without a voice: tones stand in for speech with
known word times, and a scripted timing model says where each turn goes, which is cut and where
the listener backchannels. What lands in the tracks must be exactly what the turns say."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from synthconv.job import plan
from synthconv.recording import Word
from synthconv.runfolder import loud
from synthconv.scenario import load_library
from synthconv.transport.local import Bridge
from synthconv.transport.local_io import SAMPLE_RATE
from synthconv.transport.timing import Cut, StrictTiming

RATE = SAMPLE_RATE


def tone(seconds: float, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def speech(words: list[tuple[str, float]], gap: float = 0.15) -> tuple[str, np.ndarray, list[Word]]:
    """A segment of tones, one per word of the given length, with `gap` of silence between."""
    pcm, spans, at = [], [], 0.0
    for i, (w, length) in enumerate(words):
        if i:
            pcm.append(np.zeros(int(gap * RATE), np.int16))
            at += gap
        pcm.append(tone(length))
        spans.append(Word(w, round(at, 3), round(at + length, 3)))
        at += length
    return " ".join(w for w, _ in words), np.concatenate(pcm), spans


class ScriptedTiming(StrictTiming):
    """Every decision the bridge asks for, given in advance."""

    natural = True

    def __init__(self, offsets: list[float], cut: Cut | None = None, backchannel: bool = False) -> None:
        self.offsets, self._cut, self.backchannel = list(offsets), cut, backchannel

    def lead_in(self) -> float:
        return 0.5

    def tail(self) -> float:
        return 0.5

    def offset(self, role: str, previous_s: float) -> float:
        return self.offsets.pop(0)

    def cut(self, role: str, words: list[tuple[float, float]]) -> Cut | None:
        cut, self._cut = self._cut, None
        return cut

    def backchannels(self, role: str, pauses: list[tuple[float, float]]) -> list[tuple[float, str]]:
        return [(pauses[0][0] + 0.02, "mm-hmm")] if self.backchannel and pauses else []


class ToneTTS:
    """Says any token as a 0.3 s 440 Hz tone (what the bridge asks a listener's TTS for)."""

    @asynccontextmanager
    async def synthesize(self, text: str):  # noqa: ANN201
        from livekit import rtc

        pcm = tone(0.3, 440.0)

        async def frames():  # noqa: ANN202
            yield SimpleNamespace(frame=rtc.AudioFrame(pcm.tobytes(), RATE, 1, len(pcm)))

        yield frames()


@pytest.fixture(scope="module")
def played():
    lib = load_library()
    return plan(lib, 1, 7, scenarios=["refund"], personas="files")[0].resolve(lib)


def run(bridge: Bridge, lines: list[tuple[str, tuple[str, np.ndarray, list[Word]]]]) -> list[tuple[float, bool]]:
    async def main() -> list[tuple[float, bool]]:
        out = []
        for role, (text, pcm, words) in lines:
            bridge.texts[role].done.put_nowait((text, words))
            out.append(await bridge.play(role, pcm))
        return out

    return asyncio.run(main())


def speech_in(track: np.ndarray, a: float, b: float) -> bool:
    return bool(loud(track[int(a * RATE): int(b * RATE)]).any())


def test_turns_are_placed_at_the_drawn_offsets_and_the_tracks_hold_them(played):
    bridge = Bridge(played)
    bridge.timing = ScriptedTiming(offsets=[0.3, -0.2, -2.0])
    first, second = played.roles
    lines = [(first, speech([("hello", 0.4), ("there", 0.5)])),
             (second, speech([("hi", 0.5), ("there", 0.5)])),
             (first, speech([("so", 0.2), ("anyway", 0.6)])),
             (second, speech([("right", 0.3)]))]
    run(bridge, lines)
    rec = bridge.recording()
    t0, t1, t2, t3 = rec.turns
    assert (t0.start, t0.end) == (0.5, 1.55)  # lead-in, then 0.4 + 0.15 + 0.5 s
    assert t1.start == round(t0.end + 0.3, 3) and t1.end == round(t1.start + 1.15, 3)
    assert t2.start == round(t1.end - 0.2, 3)  # an overlap of 0.2 s
    assert t3.start == round(t2.start + 0.5, 3)  # never before half a second into the turn it answers
    assert [w.word for w in t0.words] == ["hello", "there"] and t0.words[1].start == round(t0.start + 0.55, 3)
    for t in rec.turns:  # every turn brackets its speech in its own track, and only there
        track = rec.tracks[t.role]
        assert speech_in(track, t.start, t.start + 0.01) and speech_in(track, t.end - 0.01, t.end)
        assert not speech_in(track, t.end + 0.001, t.end + 0.1)
    assert len(rec.tracks[first]) == len(rec.tracks[second])  # one clock; the tail follows the last turn
    assert abs(len(rec.tracks[first]) / RATE - (max(t2.end, t3.end) + 0.5)) < 0.002


def test_a_cut_turn_stops_in_its_track_and_the_peer_comes_in_at_the_onset(played):
    bridge = Bridge(played)
    first, second = played.roles
    words = [(w, 0.3) for w in ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]]
    text, pcm, spans = speech(words)
    onset = spans[4].start
    bridge.timing = ScriptedTiming(offsets=[0.3, 0.3, 0.3], cut=Cut(onset=onset, stop=onset + 0.3, words=5))
    openings = [(first, speech([("hello", 0.5)])), (second, speech([("hi", 0.5)]))]  # a greeting is never cut
    results = run(bridge, [*openings, (first, (text, pcm, spans)), (second, speech([("sorry", 0.4)]))])
    assert results[2] == (pytest.approx(onset + 0.3, abs=0.02), True)
    rec = bridge.recording()
    cut, reply = rec.turns[2], rec.turns[3]
    assert cut.interrupted and cut.text == "one two three four five" and cut.intended == text
    assert cut.end <= round(cut.start + onset + 0.3, 3) + 0.001
    assert not speech_in(rec.tracks[first], cut.end + 0.001, cut.end + 1.0)  # silent after the cut
    assert reply.start == round(cut.start + onset, 3)  # the interrupter starts at its onset
    assert [w.word for w in cut.words] == ["one", "two", "three", "four", "five"]
    assert bridge.call.interrupted[first] == "one two three four five"


def test_a_backchannel_goes_into_the_listeners_track_inside_the_speakers_pause(played):
    bridge = Bridge(played)
    first, second = played.roles
    bridge.tts[second] = ToneTTS()
    bridge.timing = ScriptedTiming(offsets=[0.3], backchannel=True)
    long_line = speech([("well", 0.6), ("the", 0.5), ("refund", 0.6), ("never", 0.5), ("came", 0.6)], gap=0.6)
    run(bridge, [(first, long_line)])
    rec = bridge.recording()
    turn, mm = rec.turns
    assert mm.kind == "backchannel" and mm.role == second and mm.text == "mm-hmm"
    assert turn.start < mm.start and mm.end < turn.end
    assert speech_in(rec.tracks[second], mm.start, mm.end)
    assert not speech_in(rec.tracks[first], mm.start + 0.05, mm.end - 0.05)  # said in the speaker's pause
