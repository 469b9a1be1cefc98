import pytest

from synthconv.job import plan
from synthconv.scenario import load_library


def test_same_flags_same_plan_and_ids():
    lib = load_library()
    a, b = plan(lib, 30, seed=5), plan(lib, 30, seed=5)
    assert a == b
    assert len({j.id for j in a}) == 30
    assert plan(lib, 30, seed=6) != a


def test_every_scenario_appears_before_any_repeats():
    lib = load_library()
    n = len(lib.scenarios)
    jobs = plan(lib, n + 3, seed=1)
    assert {j.scenario for j in jobs[:n]} == set(lib.scenarios)


def test_repeats_of_a_scenario_use_different_persona_pairs():
    lib = load_library()
    jobs = [j for j in plan(lib, len(lib.scenarios) * 3, seed=2) if j.scenario == "billing-dispute"]
    assert len(jobs) == 3
    assert len({tuple(sorted(j.roles.items())) for j in jobs}) == 3


def test_personas_come_from_the_scenario_pools():
    lib = load_library()
    for j in plan(lib, 40, seed=3):
        sc = lib.scenarios[j.scenario]
        assert all(p in sc.roles[r].personas for r, p in j.roles.items())


def test_count_must_be_positive():
    with pytest.raises(ValueError, match="--count must be at least 1"):
        plan(load_library(), 0, seed=1)
