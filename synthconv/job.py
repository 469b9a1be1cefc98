"""Job planning: `--count N --seed S` becomes N scenario × persona-pair jobs, always the same N.

Every scenario appears once before any appears twice; within a scenario the persona pairs are
walked in a seeded order so repeats get different voices. With `personas="sampled"` every
speaker is drawn from the role's axes instead (personas.py), and `"mixed"` takes a quarter of
them from the files; a drawn persona travels with its job, in full. A job's id is derived from
its content, so the same flags always give the same ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .personas import MIXED_FILE_SHARE, MODES, draw
from .scenario import Branch, Library, Persona, Scenario, UnderTest, draw_facts
from .voices import Catalog

WALK = 4096  # a job's variant: its run's offset (a multiple of WALK) plus its step along the wording walk


@dataclass(frozen=True)
class Job:
    id: str
    scenario: str
    roles: dict[str, str]  # role key -> persona id
    seed: int  # the conversation's own seed: wording, facts and timing
    personas: dict[str, dict] = field(default_factory=dict)  # role -> drawn persona, in full
    variant: int | None = None  # which wording of each beat (engine/offline/wording.py)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.personas:
            del d["personas"]  # a run of persona files keeps the 1.1 job record
        if self.variant is None:
            del d["variant"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        return cls(id=d["id"], scenario=d["scenario"], roles=dict(d["roles"]), seed=int(d["seed"]),
                   personas={r: dict(p) for r, p in (d.get("personas") or {}).items()},
                   variant=d.get("variant"))

    def persona(self, role: str, library: Library) -> Persona:
        """Who plays `role`: the drawn persona the plan carries, or the library's file."""
        drawn = self.personas.get(role)
        return Persona.model_validate(drawn) if drawn is not None else library.personas[self.roles[role]]

    def branch(self, library: Library) -> Branch | None:
        return library.scenarios[self.scenario].branch_of(self.seed)

    def cast(self, library: Library) -> dict[str, Persona]:
        return {r: self.persona(r, library) for r in self.roles}

    def resolve(self, library: Library, agents: Mapping[str, str] | None = None) -> ResolvedJob:
        """This job as it is played (see ResolvedJob); `agents` are the run's --agent ROLE=NAME."""
        branch = self.branch(library)
        scenario = library.scenarios[self.scenario].play(branch)
        return ResolvedJob(job=self, scenario=scenario, branch=branch, personas=self.cast(library),
                           facts=draw_facts(scenario, self.seed),
                           under_test=scenario.agent_on_line(agents or {}))


@dataclass(frozen=True)
class ResolvedJob:
    """A job as one conversation plays it, worked out once from the library: the played
    scenario (main script or the branch its seed draws), who plays each role and the facts each
    knows. Transports, engines and the meta.json writer all take this one value, and a LiveKit
    dispatch carries it whole (`to_dict`), so an agent worker needs no library of its own."""

    job: Job
    scenario: Scenario  # as played: no branches left to draw
    branch: Branch | None
    personas: dict[str, Persona]  # role -> who plays it
    facts: dict[str, dict[str, str]]  # role -> the facts only it knows, one value drawn per conversation
    under_test: UnderTest | None = None  # a role somebody else's agent plays (synthconv plays the other)

    @property
    def roles(self) -> list[str]:
        """Roles in speaking order: the first speaker first."""
        return self.scenario.role_keys

    def peer(self, role: str) -> str:
        return next(r for r in self.roles if r != role)

    def to_dict(self) -> dict:
        return {"job": self.job.to_dict(), "scenario": self.scenario.model_dump(mode="json"),
                "branch": self.branch and self.branch.model_dump(mode="json"),
                "personas": {r: p.model_dump(mode="json") for r, p in self.personas.items()}, "facts": self.facts,
                "under_test": self.under_test and self.under_test.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, d: dict) -> ResolvedJob:
        return cls(job=Job.from_dict(d["job"]), scenario=Scenario.model_validate(d["scenario"]),
                   branch=Branch.model_validate(d["branch"]) if d.get("branch") else None,
                   personas={r: Persona.model_validate(p) for r, p in d["personas"].items()},
                   facts={r: dict(f) for r, f in d["facts"].items()},
                   under_test=UnderTest.model_validate(d["under_test"]) if d.get("under_test") else None)


def _job_id(scenario: str, roles: dict[str, str], seed: int) -> str:
    content = json.dumps({"scenario": scenario, "roles": roles, "seed": seed}, sort_keys=True)
    return f"{scenario}-{hashlib.sha256(content.encode()).hexdigest()[:8]}"


def _draw_cast(library: Library, sid: str, roles: dict[str, str], personas: str, seed: str,
               catalog: Catalog | None) -> dict[str, dict]:
    """The drawn personas of one job (`roles` is updated with their ids): each role drawn, or in
    `mixed` mode sometimes its file kept; no two roles in one catalog voice while another fits."""
    sc, drawn = library.scenarios[sid], {}
    taken: dict[str, float] = {}  # neural voices already speaking in this job: their pitch
    for key in sc.role_keys:
        if personas == "mixed" and key in roles and random.Random(f"{seed}:{key}").random() < MIXED_FILE_SHARE:
            p = library.personas[roles[key]]
        else:
            p = draw(library, sc, key, f"{seed}:{key}", catalog, taken)
            drawn[key], roles[key] = p.model_dump(mode="json"), p.id
        if p.voice.piper is not None:
            taken[p.voice.piper.voice] = p.voice.piper.pitch
    return drawn


def plan(library: Library, count: int, seed: int, scenarios: list[str] | None = None,
         personas: str = "files", catalog: Catalog | None = None) -> list[Job]:
    """The deterministic plan of `count` jobs for `seed` (optionally limited to `scenarios`);
    `personas`: files, sampled or mixed (see the module docstring); drawn personas speak with the
    voices of `catalog` (default: this machine's, `Catalog.load()`)."""
    if count < 1:
        raise ValueError("--count must be at least 1")
    if personas not in MODES:
        raise ValueError(f"--personas: choose from {', '.join(MODES)} (got {personas!r})")
    ids = sorted(scenarios or library.scenarios)
    for sid in ids:
        if sid not in library.scenarios:
            raise KeyError(sid)
    rng = random.Random(seed)
    if personas != "files" and catalog is None:
        catalog = Catalog.load()

    pair_cycles = {}
    for sid in ids:
        sc = library.scenarios[sid]
        keys = sc.role_keys
        pairs = list(itertools.product(*(sc.roles[k].personas for k in keys)))
        if not pairs and personas == "files":
            empty = next(k for k in keys if not sc.roles[k].personas)
            raise ValueError(f"--personas files: scenario {sid} names no persona file for role {empty}")
        rng.shuffle(pairs)
        pair_cycles[sid] = itertools.cycle([dict(zip(keys, p)) for p in pairs] or [{}])

    jobs: list[Job] = []
    seen: set[str] = set()
    # the k-th job of a scenario says each beat in the k-th wording of a walk the per-run offset
    # shuffles (the offset's low bits are zero, so k is where the walk is)
    variants = {sid: random.Random(f"{seed}:variant:{sid}").getrandbits(20) * WALK for sid in ids}
    while len(jobs) < count:
        order = ids[:]
        rng.shuffle(order)  # every scenario once per round
        for sid in order[: count - len(jobs)]:
            roles = dict(next(pair_cycles[sid]))
            job_seed = rng.getrandbits(32)
            drawn = {} if personas == "files" else _draw_cast(library, sid, roles, personas, f"{seed}:{job_seed}",
                                                              catalog)
            job = Job(id=_job_id(sid, roles, job_seed), scenario=sid, roles=roles, seed=job_seed, personas=drawn,
                      variant=variants[sid])
            if job.id in seen:  # astronomically unlikely; keep ids unique anyway
                continue
            seen.add(job.id)
            jobs.append(job)
            variants[sid] += 1
    return jobs
