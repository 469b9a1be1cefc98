"""The scenario library: wide enough (domains, languages, branches), and every branch of every
scenario reachable and played to its own ending (as text: the offline policy without audio),
plus one branch as a real offline conversation."""

import json
import re

import pytest
from conftest import cli

from synthconv.engine.offline.dryrun import dialogue
from synthconv.job import Job
from synthconv.scenario import draw_facts, load_library

LIB = load_library()


def _seed_for(sc, branch):
    return next(s for s in range(10_000) if sc.branch_of(s) == branch)


def _job(sc, seed, personas="sampled"):
    from synthconv.personas import draw

    drawn = {k: draw(LIB, sc, k, f"t:{seed}:{k}") for k in sc.role_keys}
    return Job(id=f"{sc.id}-{seed:08x}", scenario=sc.id, roles={k: p.id for k, p in drawn.items()}, seed=seed,
               personas={k: p.model_dump(mode="json") for k, p in drawn.items()}, variant=seed)


def test_the_library_is_wide():
    scenarios = LIB.scenarios.values()
    assert len(LIB.scenarios) >= 30
    assert len({s.domain for s in scenarios}) >= 5
    assert sum(s.language == "hi" for s in scenarios) >= 3
    assert all(len(s.branches) >= 2 for s in scenarios), [s.id for s in scenarios if len(s.branches) < 2]


@pytest.mark.parametrize("sid", sorted(LIB.scenarios))
def test_every_branch_is_reachable_and_ends_coherently(sid):
    sc = LIB.scenarios[sid]
    for branch in [None, *sc.branches]:
        seed = _seed_for(sc, branch)  # reachable: some conversation draws it
        job = _job(sc, seed)
        played = job.resolve(LIB).scenario
        turns = dialogue(job, LIB)
        where = f"{sid} branch {branch and branch.id}"
        # every beat was said, in order, by its role, and the call ended on the last one
        assert [r for r, _ in turns] == [b.role for b in played.script], where
        assert len(turns) <= sc.turns.max and len(turns) >= sc.turns.min, where
        for _, text in turns:
            assert text and not re.search(r"[{}\[\]|]", text), (where, text)
            assert not re.search(r"(?<!\.)\.\.(?!\.)", text), (where, text)  # "8 a.m.." reads as two stops
        if branch is not None:
            assert played.outcome == branch.outcome and played.script[branch.at:] == branch.script
            drawn = draw_facts(played, seed)
            said = " ".join(t for _, t in turns)
            for role, names in branch.facts.items():  # the branch's own facts reach the conversation
                assert any(drawn[role][n] in said for n in names), where


def test_a_branch_played_as_a_real_offline_conversation(tmp_path):
    sc = LIB.scenarios["refund"]
    from synthconv.job import plan

    seed = next(s for s in range(200) if plan(LIB, 1, s, scenarios=["refund"], personas="sampled")[0].branch(LIB))
    out = tmp_path / "run"
    # strict turn-taking: no interruption repairs, so the turns are the script's beats one for one
    proc = cli("generate", "--count", "1", "--seed", str(seed), "--scenario", "refund", "--out", str(out),
               "--turn-taking", "strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conv = next((out / "conversations").iterdir())
    meta = json.loads((conv / "meta.json").read_text())
    branch = next(b for b in sc.branches if b.id == meta["branch"]["id"])
    assert meta["outcome"] == branch.outcome
    turns = [json.loads(line) for line in (conv / "transcript.jsonl").read_text().splitlines()]
    assert [t["role"] for t in turns] == [b.role for b in sc.play(branch).script]


def test_a_call_draws_its_amounts_in_one_currency():
    # lists may mix "$312.40" and "£89.99"; 4 of 200 calls said both before amounts followed one currency
    from synthconv.scenario import CURRENCIES

    mixed = {(sc.id, seed) for sc in LIB.scenarios.values() for branch in [None, *sc.branches] for seed in range(20)
             if len({c for facts in draw_facts(sc.play(branch), seed).values() for v in facts.values() for c in v
                     if c in CURRENCIES}) > 1}
    assert not mixed, sorted(mixed)[:5]
    sc = LIB.scenarios["card-lost"]
    charged = sc.play(next(b for b in sc.branches if b.id == "unknown-charge"))
    drawn = {draw_facts(charged, seed)["agent"]["fraud_amount"][0] for seed in range(40)}
    assert drawn == {"$", "£"}  # each call one currency, the run both
