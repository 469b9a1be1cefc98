"""Wording variety: lines composed from parts, a run that never says a beat the same way twice
while compositions last, and speaking style that changes the words."""

import random

from synthconv.diversity import Sample, figures
from synthconv.engine.offline.dryrun import dialogue
from synthconv.engine.offline.wording import choose, compositions, expand, restyle
from synthconv.job import plan
from synthconv.scenario import load_library


def test_variants_walk_every_composition_before_repeating_one():
    lines = ["[Hi|Hello] {peer}, I [sent back|returned] {item}.", "Thank you. I'm chasing a refund for {item}."]
    n = len(compositions([expand(x, "en") for x in lines]))
    said = [choose(lines, "refund:customer:1", v, random.Random(0), "en") for v in range(n)]
    assert n == 4 + 4 and len(set(said)) == n  # "Thank you" has four paraphrases
    assert choose(lines, "refund:customer:1", n, random.Random(1), "en") == said[0]  # then it cycles


def test_jobs_of_one_scenario_say_their_beats_differently():
    lib = load_library()
    jobs = [j for j in plan(lib, len(lib.scenarios) * 4, seed=2, personas="sampled") if j.scenario == "refund"]
    assert len({j.variant for j in jobs}) == 4
    openings = [dialogue(j, lib)[0][1] for j in jobs]
    assert len(set(openings)) == 4, openings


def test_a_plan_of_60_repeats_few_long_lines_and_splits_by_speaker():
    lib = load_library()
    samples = [Sample(id=j.id, scenario=j.scenario, roles=j.roles, utterances=[t for _, t in dialogue(j, lib)])
               for j in plan(lib, 60, seed=1, personas="sampled")]
    f = figures(samples)
    assert f["repeated_share_4_words"] < 0.12 and f["distinct_speakers"] == 120
    assert f["speaker_split"]["possible"] and f["speaker_split"]["off_by_points"] <= 2


def test_style_changes_the_words_not_only_the_fillers():
    lib = load_library()
    base = lib.personas["cust-maria-lopez"]
    formal = base.model_copy(update={"style": base.style.model_copy(update={"politeness": "high", "pace": "slow",
                                                                           "mood": "calm"})})
    casual = base.model_copy(update={"style": base.style.model_copy(update={"pace": "fast", "mood": "hurried"})})
    line = "I'm sorry, I do not have it. Can you check it is the right account?"
    said = {restyle(line, formal, "en", random.Random(s)) for s in range(10)}
    assert any("I am sorry" in s for s in said) and any(s.startswith("I am sorry") for s in said)
    assert restyle(line, casual, "en", random.Random(0)).startswith("I'm sorry, I don't have it.")
    terse = base.model_copy(update={"style": base.style.model_copy(update={"verbosity": "terse"})})
    assert restyle("Okay, it's 60614.", terse, "en", random.Random(0)) == "It's 60614."
