"""What a call with an agent under test measures (under_test/measure.py) and how its expectations
are checked (under_test/expect.py), on tracks whose speech is placed at known samples."""

import numpy as np
import pytest

from synthconv.scenario import Expect, SayPattern
from synthconv.under_test.expect import check
from synthconv.under_test.measure import LONG_SILENCE_S, YIELD_WINDOW_S, measure

RATE = 24000


def track(spans: list[tuple[float, float]], seconds: float = 40.0) -> np.ndarray:
    t = np.zeros(int(seconds * RATE), np.int16)
    for a, b in spans:
        x = np.arange(int(a * RATE), int(b * RATE))
        t[x] = (3000 * np.sin(x / 3.0)).astype(np.int16)
    return t


def call(agent: list[tuple[float, float]], caller: list[tuple[float, float]], texts: dict | None = None):
    """Turns (one per span) and tracks of a call; `texts` maps an agent span's index to its words."""
    spans = sorted([("agent", s, i) for i, s in enumerate(agent)] + [("caller", s, i) for i, s in enumerate(caller)],
                   key=lambda x: x[1][0])
    turns = [{"turn": n, "role": r, "start": a, "end": b, "kind": "turn",
              "text": (texts or {}).get(i, "") if r == "agent" else "words"} for n, (r, (a, b), i) in enumerate(spans)]
    return turns, {"agent": track(agent), "caller": track(caller)}


def test_latency_is_the_gap_after_the_callers_line_less_its_transit():
    turns, tracks = call(agent=[(0.5, 2.0), (4.7, 6.0), (9.35, 11.0)], caller=[(2.5, 4.0), (7.0, 9.0)])
    m = measure(turns, tracks, RATE, "agent", "caller", transit={1: 0.2})
    assert [r["gap_s"] for r in m.replies] == [0.7, 0.35]
    assert m.latencies == [0.5, 0.35]  # the first caller line took 0.2 s to arrive; the second is not known
    assert [r["after_turn"] for r in m.replies] == [1, 3] and [r["turn"] for r in m.replies] == [2, 4]
    assert m.barge_ins == [] and m.talk_over == []  # the greeting is no reply: nothing came before it


def test_a_caller_cutting_in_shows_how_long_the_agent_kept_talking():
    # the caller comes in at 3.0 while the agent speaks; the agent stops at 3.6 and is quiet to 5.0
    turns, tracks = call(agent=[(1.0, 3.6), (6.0, 7.0)], caller=[(3.0, 5.0)])
    m = measure(turns, tracks, RATE, "agent", "caller")
    assert m.barge_ins == [{"turn": 1, "at": 3.0, "yield_s": 0.6}]


def test_an_agent_talking_through_the_callers_line_never_yielded():
    turns, tracks = call(agent=[(1.0, 8.0)], caller=[(3.0, 5.0)])
    m = measure(turns, tracks, RATE, "agent", "caller")
    assert m.yields == [None]
    # it stopped before the caller did, but only after the window: it finished its sentence
    turns, tracks = call(agent=[(1.0, 3.0 + YIELD_WINDOW_S + 0.5)], caller=[(3.0, 8.0)])
    assert measure(turns, tracks, RATE, "agent", "caller").yields == [None]


def test_an_agent_starting_inside_the_callers_line_talks_over_it():
    turns, tracks = call(agent=[(0.0, 1.0), (3.0, 6.0)], caller=[(1.5, 4.5)])
    m = measure(turns, tracks, RATE, "agent", "caller")
    assert m.talk_over == [{"turn": 2, "at": 3.0, "overlap_s": 1.5}] and m.replies == []


def test_long_silences_and_the_talk_ratio():
    turns, tracks = call(agent=[(0.0, 3.0), (10.0, 12.0)], caller=[(3.5, 4.5)])
    m = measure(turns, tracks, RATE, "agent", "caller")
    assert m.long_silences == [{"at": 4.5, "duration_s": 5.5, "after": "caller"}] and LONG_SILENCE_S <= 5.5
    assert m.talk_ratio == round(5.0 / 6.0, 3) and m.speech_s == {"agent": 5.0, "caller": 1.0}


def test_expectations_pass_or_fail_with_the_turn_and_time_as_evidence():
    texts = {0: "Hello, you're through to the clinic.", 1: "Could I take your date of birth, please?",
             2: "You're booked. Your confirmation number is RS-7734."}
    turns, tracks = call(agent=[(0.0, 2.0), (4.0, 5.0), (9.0, 11.0)], caller=[(2.5, 3.5), (5.6, 7.0)], texts=texts)
    m = measure(turns, tracks, RATE, "agent", "caller")
    expect = Expect(say=["you're booked", SayPattern(pattern=r"[A-Z]{2}-\d{4}", name="reference"), "goodbye"],
                    ask_for=["dob", "postcode"], max_p95_latency_s=1.5, max_yield_s=1.0)
    got = {c.name: c for c in check(expect, turns, m, "agent")}
    assert got["say: reference"].status == "pass" and "RS-7734" in got["say: reference"].evidence
    assert got["say: reference"].turn == 4 and got["say: reference"].at == 9.0
    assert got["say: you're booked"].status == "pass"
    assert got["say: goodbye"].status == "fail" and "3 turns" in got["say: goodbye"].evidence
    assert got["ask_for: dob"].status == "pass" and got["ask_for: dob"].evidence.startswith("turn 2 at 4.00 s")
    assert got["ask_for: postcode"].status == "fail"
    assert got["max_p95_latency_s"].status == "fail" and "limit 1.5 s" in got["max_p95_latency_s"].evidence  # 2.0 s
    assert got["max_yield_s"].status == "not measured"  # the caller never cut in


def test_a_limit_on_yield_fails_an_agent_that_never_stopped():
    turns, tracks = call(agent=[(1.0, 9.0)], caller=[(3.0, 5.0)], texts={0: "It is a long line."})
    m = measure(turns, tracks, RATE, "agent", "caller")
    (c,) = check(Expect(max_yield_s=1.0), turns, m, "agent")
    assert c.status == "fail" and "never yielded" in c.evidence and c.turn == 1 and c.at == 3.0


@pytest.mark.parametrize("expect", [Expect(say=["hello"]), Expect(ask_for=["dob"])])
def test_words_not_transcribed_are_not_measured(expect):
    turns, tracks = call(agent=[(0.0, 1.0)], caller=[(1.5, 2.0)])  # the agent published no transcript
    (c,) = check(expect, turns, measure(turns, tracks, RATE, "agent", "caller"), "agent")
    assert c.status == "not measured"
