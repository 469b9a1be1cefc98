"""The observer's half of the LiveKit transport, in this process and without a server: turning
what crossed a room (two tracks, the agents' said/heard texts) into turns that bracket their
speech and carry the right words."""

import asyncio

import numpy as np

from synthconv.runfolder.validate import validate_conversation
from synthconv.job import Job
from synthconv.runfolder import write_conversation
from synthconv.transport.livekit import SAMPLE_RATE, Observer
from synthconv.transport.protocol import HEARD_TOPIC, SAID_TOPIC

JOB = Job(id="refund-0123abcd", scenario="refund", roles={"agent": "agent-a", "customer": "cust-c"}, seed=1)


def _speech(seconds: float, seed: int) -> np.ndarray:
    """Loud noise standing in for speech (well above the contract's silence threshold)."""
    return (np.random.default_rng(seed).uniform(-1, 1, int(seconds * SAMPLE_RATE)) * 8000).astype(np.int16)


def _observer(audio: dict, texts: list[dict]) -> Observer:
    async def make() -> Observer:
        return Observer(["agent", "customer"], JOB)

    obs = asyncio.run(make())
    obs.audio = audio
    obs.texts = texts
    return obs


def test_turns_bracket_the_speech_of_each_track_and_carry_their_texts(tmp_path):
    silence = np.zeros(SAMPLE_RATE, np.int16)
    # agent: speaks 0.5-2.5 s and 6.0-7.0 s (with a 0.4 s pause inside the first turn, shorter
    # than a turn break); customer: its track starts arriving at 1.0 s, speaks 3.0-5.0 s
    agent = np.concatenate([silence[:12000], _speech(1.0, 1), silence[:9600], _speech(0.6, 2),
                            np.zeros(3 * SAMPLE_RATE + 12000, np.int16), _speech(1.0, 3)])
    customer = np.concatenate([np.zeros(2 * SAMPLE_RATE, np.int16), _speech(2.0, 4)])
    texts = [
        {"role": "agent", "topic": SAID_TOPIC, "text": "Hello, how can I help?", "at": 2.6},
        {"role": "customer", "topic": HEARD_TOPIC, "text": "hello how can I help", "at": 3.1},
        # the agent cut in: the customer's agent says what got out, and what it meant to say
        {"role": "customer", "topic": SAID_TOPIC, "text": "My refund never", "at": 5.1, "interrupted": True,
         "intended": "My refund never came."},
        {"role": "agent", "topic": HEARD_TOPIC, "text": "my refund never", "at": 5.7},
        {"role": "agent", "topic": SAID_TOPIC, "text": "Let me check.", "at": 7.1},
    ]
    rec = _observer({"agent": (0, [agent[:30000], agent[30000:]]), "customer": (SAMPLE_RATE, [customer])}, texts)
    rec = rec.recording(tail_s=0.5)
    assert {len(t) for t in rec.tracks.values()} == {int(7.5 * SAMPLE_RATE)}
    assert [(t.role, t.text, t.heard, t.interrupted, t.intended) for t in rec.turns] == [
        ("agent", "Hello, how can I help?", "hello how can I help", False, None),
        ("customer", "My refund never", "my refund never", True, "My refund never came."),
        ("agent", "Let me check.", None, False, None),
    ]
    starts_ends = [(t.start, t.end) for t in rec.turns]
    assert starts_ends[0][0] == 0.5 and abs(starts_ends[0][1] - 2.5) < 0.01  # one turn across the pause
    assert starts_ends[1] == (3.0, 5.0)  # placed by the track's own offset in the room
    assert abs(starts_ends[2][0] - 6.0) < 0.01
    assert rec.problem(min_turns=3) is None
    meta = {"id": JOB.id, "personas": {"agent": {}, "customer": {}}}
    assert validate_conversation(write_conversation(tmp_path, JOB.id, rec, meta)) == []


def test_a_silent_agent_makes_an_unusable_recording():
    rec = _observer({"agent": (0, [_speech(1.0, 1)]), "customer": (0, [np.zeros(SAMPLE_RATE, np.int16)])},
                    [{"role": "agent", "topic": SAID_TOPIC, "text": "Hello?", "at": 1.1}]).recording()
    assert [t.role for t in rec.turns] == ["agent"]
    assert "only ['agent'] spoke" in rec.problem(min_turns=2)
