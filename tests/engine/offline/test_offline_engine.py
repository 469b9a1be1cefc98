"""The offline engine's parts: espeak voices, the dialogue policy, the identity every engine's
agent is told."""

import numpy as np
import pytest
from livekit.agents import llm

from synthconv.engine.base import CallControl, Speaker
from synthconv.engine.offline.policy import DialoguePolicy
from synthconv.engine.offline.resume import OPENERS
from synthconv.engine.offline.tts import Espeak
from synthconv.engine.session import IDENTITY_PATTERN, identity_prompt
from synthconv.job import Job
from synthconv.scenario import OfflineVoice, draw_facts, load_library


def test_espeak_speaks_each_persona_in_its_own_voice():
    lib = load_library()
    espeak = Espeak.get()
    maria, tom = lib.personas["cust-maria-lopez"], lib.personas["cust-tom-becker"]
    a = espeak.synthesize("I was charged twice this month.", maria.voice.offline)
    b = espeak.synthesize("I was charged twice this month.", tom.voice.offline)
    for pcm in (a, b):
        assert pcm.dtype == np.int16 and len(pcm) > espeak.sample_rate  # over a second of audio
        assert np.abs(pcm).max() > 1000
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_hindi_personas_speak_hindi():
    raj = load_library().personas["cust-raj-sharma"]
    pcm = Espeak.get().synthesize("नमस्ते, मेरा नाम राज शर्मा है।", raj.voice.offline)
    assert len(pcm) > Espeak.get().sample_rate and np.abs(pcm).max() > 1000


def test_unknown_voice_is_an_error():
    with pytest.raises(ValueError, match="no voice"):
        Espeak.get().synthesize("hello", OfflineVoice(voice="xx-nope"))


def test_the_identity_reads_back_for_every_role():
    """identity_prompt and IDENTITY_PATTERN are one contract (the OpenAI loopback reads agents'
    instructions with the pattern): every scenario's roles, with every persona, read back."""
    lib = load_library()
    for sc in lib.scenarios.values():
        facts = draw_facts(sc, 3)
        for role, peer in zip(sc.roles, reversed(list(sc.roles))):
            for persona in lib.personas.values():
                speaker = Speaker(job=Job(id="j", scenario=sc.id, roles={}, seed=3), role=role, scenario=sc,
                                  persona=persona, peer_role=peer, facts=facts[role], heard=None, call=CallControl())
                text = identity_prompt(speaker)
                m = IDENTITY_PATTERN.match(text)
                assert m and (m["name"], m["role"]) == (persona.name, sc.roles[role].label), text
                assert sc.title in text and all(v in text for v in facts[role].values())


def _policy(role="customer", seed=1, turns_max=None):
    lib = load_library()
    sc = lib.scenarios["billing-dispute"]
    if turns_max:
        sc = sc.model_copy(update={"turns": sc.turns.model_copy(update={"max": turns_max})})
    persona = lib.personas["cust-maria-lopez" if role == "customer" else "agent-maya-chen"]
    call = CallControl()
    return DialoguePolicy(scenario=sc, role=role, persona=persona, facts=draw_facts(sc, seed)[role],
                          seed=seed, call=call), call


def _ctx(*turns: tuple[str, str]) -> llm.ChatContext:
    ctx = llm.ChatContext()
    for role, text in turns:
        ctx.add_message(role=role, content=text)
    return ctx


def test_policy_plays_its_beats_with_facts_and_what_it_heard():
    policy, call = _policy("customer", seed=4)
    opening = _ctx(("user", "Thank you for calling Northwind Mobile, my name is Maya Chen. How can I help?"))
    problem = policy.next_line(opening)
    facts = policy.facts
    assert facts["amount"] in problem and facts["month"] in problem
    asked = _ctx(("user", "Hi, this is Maya."), ("assistant", problem), ("user", "Can I have your account number?"))
    answer = policy.next_line(asked)
    assert facts["account"] in answer
    assert call.ending_role is None


def test_policy_wording_is_seeded():
    ctx = _ctx(("user", "Thank you for calling, my name is Maya. How can I help?"))
    lines = {_policy("customer", seed=s)[0].next_line(ctx) for s in range(12)}
    assert len(lines) > 3
    assert _policy("customer", seed=9)[0].next_line(ctx) == _policy("customer", seed=9)[0].next_line(ctx)


def test_policy_says_goodbye_and_ends_at_the_turn_limit():
    policy, call = _policy("agent", seed=2, turns_max=3)
    ctx = _ctx(("assistant", "Hello, this is Maya."), ("user", "Hi, I was charged twice."))
    line = policy.next_line(ctx)  # turn 3 of at most 3: wrap up now
    assert call.ending_role == "agent"
    closing = policy.beats[-1]
    assert any(w in line for w in ("goodbye", "Take care", "great day"))
    assert closing.phase == "closing"
    assert policy.next_line(ctx) == ""  # nothing more once the call is ending


def test_a_cut_off_line_is_said_again_unless_the_peer_answered_its_question():
    """In a room the chat holds only what got out of a cut line (here its first five words)."""
    def talk(policy, call, cut_at, replies):
        said, ctx = [], []
        for i, reply in enumerate(replies):
            line = policy.next_line(_ctx(*ctx))
            said.append(line)
            if i == cut_at:
                call.interrupted["agent"] = line = " ".join(line.split()[:5])
            ctx += [("assistant", line), ("user", reply)]
        return said

    replies = ["Hi, I was charged twice in March.", "Sure, it is 4417 2093.", "Oh, okay.", "No, that's all."]
    # the question for the account number is cut, and answered anyway: the call goes on
    asked = talk(*_policy("agent", seed=3), cut_at=1, replies=replies)
    assert asked[1].endswith("?") and "4417 2093" in asked[2]
    assert not asked[2].startswith(tuple(OPENERS["en"]))
    # the line with the refund reference is cut before it: the next line says it again
    policy, call = _policy("agent", seed=3)
    told = talk(policy, call, cut_at=2, replies=replies)
    reference = policy.facts["reference"]
    assert reference in told[2] and reference not in " ".join(told[2].split()[:5])
    assert told[3].startswith(tuple(OPENERS["en"])) and reference in told[3]


def test_a_hindi_speaker_says_it_again_in_her_own_gender():
    """"जैसा मैं कह रहा था" is a man's words; a woman says "कह रही थी"."""
    lib = load_library()
    sc = lib.scenarios["recharge-failed-hi"]
    said = {}
    for pid in ("cust-sunita-verma", "cust-raj-sharma"):
        call = CallControl()
        policy = DialoguePolicy(scenario=sc, role="customer", persona=lib.personas[pid],
                                facts=draw_facts(sc, 1)["customer"], seed=1, call=call)
        first = policy.next_line(_ctx(("user", "नमस्ते, स्काईटेल कस्टमर केयर, बताइए?")))
        call.interrupted["customer"] = cut = " ".join(first.split()[:3])
        said[pid] = policy.next_line(_ctx(("user", "नमस्ते, स्काईटेल कस्टमर केयर, बताइए?"), ("assistant", cut),
                                          ("user", "जी, बताइए।")))
    assert "रही थी" in said["cust-sunita-verma"] and "रहा था" not in said["cust-sunita-verma"], said
    assert said["cust-raj-sharma"].startswith(tuple(OPENERS["hi"])), said
