"""Job planning: `--count N --seed S` becomes N scenario × persona-pair jobs, always the same N.

Every scenario appears once before any appears twice; within a scenario the persona pairs are
walked in a seeded order so repeats get different voices. A job's id is derived from its
content, so the same flags always give the same ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import asdict, dataclass

from .scenario import Library


@dataclass(frozen=True)
class Job:
    id: str
    scenario: str
    roles: dict[str, str]  # role key -> persona id
    seed: int  # the conversation's own seed: wording, facts and timing

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        return cls(id=d["id"], scenario=d["scenario"], roles=dict(d["roles"]), seed=int(d["seed"]))


def _job_id(scenario: str, roles: dict[str, str], seed: int) -> str:
    content = json.dumps({"scenario": scenario, "roles": roles, "seed": seed}, sort_keys=True)
    return f"{scenario}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def plan(library: Library, count: int, seed: int, scenarios: list[str] | None = None) -> list[Job]:
    """The deterministic plan of `count` jobs for `seed` (optionally limited to `scenarios`)."""
    if count < 1:
        raise ValueError("--count must be at least 1")
    ids = sorted(scenarios or library.scenarios)
    for sid in ids:
        if sid not in library.scenarios:
            raise KeyError(sid)
    rng = random.Random(seed)

    pair_cycles = {}
    for sid in ids:
        sc = library.scenarios[sid]
        keys = sc.role_keys
        pairs = list(itertools.product(*(sc.roles[k].personas for k in keys)))
        rng.shuffle(pairs)
        pair_cycles[sid] = itertools.cycle([dict(zip(keys, p)) for p in pairs])

    jobs: list[Job] = []
    seen: set[str] = set()
    while len(jobs) < count:
        order = ids[:]
        rng.shuffle(order)  # every scenario once per round
        for sid in order[: count - len(jobs)]:
            roles = next(pair_cycles[sid])
            job_seed = rng.getrandbits(32)
            job = Job(id=_job_id(sid, roles, job_seed), scenario=sid, roles=roles, seed=job_seed)
            if job.id in seen:  # astronomically unlikely; keep ids unique anyway
                continue
            seen.add(job.id)
            jobs.append(job)
    return jobs
