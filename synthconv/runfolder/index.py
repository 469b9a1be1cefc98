"""RUN/conversations.jsonl: one `ConversationResult` per planned conversation, in plan order.

The supervisor writes it (whole, atomically, after every finished job), `generate --resume`
and `inspect` read it back; what a line must hold is docs/FORMAT.md's "conversations.jsonl".
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from pathlib import Path

import jsonlines

from .conversation import finite_number, read_lines, read_meta
from .guards import conversation_dir, replace_atomic


@dataclass
class ConversationResult:
    """How one planned conversation ended, as a line of conversations.jsonl."""

    id: str
    status: str  # ok, failed, or pending (only in a reader's view of an unfinished run)
    scenario: str
    roles: dict[str, str]  # role key -> persona id
    duration_s: float | None = None
    turns: int | None = None
    error: str | None = None  # one line, when failed
    # between a runner process and the supervisor only, never written:
    transient: bool = False  # trying again may help (time-out, dropped connection, rate limit)
    disk: str | None = None  # the disk refused a write: the run stops, the job is redone on resume

    @classmethod
    def for_job(cls, job, status: str = "pending", **kw) -> ConversationResult:  # noqa: ANN001 - a Job
        return cls(id=job.id, status=status, scenario=job.scenario, roles=dict(job.roles), **kw)

    @classmethod
    def failed(cls, job, error: str, transient: bool = False) -> ConversationResult:  # noqa: ANN001
        return cls.for_job(job, "failed", error=error, transient=transient)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_line(self) -> dict:
        """The conversations.jsonl record (and what `inspect --json` prints)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in LINE_FIELDS}

    @classmethod
    def from_line(cls, d: object) -> ConversationResult:
        """A record read back; ValueError names what is missing or of the wrong type."""
        bad = [k for k, kind in REQUIRED.items() if not isinstance(d, dict) or not isinstance(d.get(k), kind)]
        if bad:
            raise ValueError(f"missing or bad {bad}")
        bad = [k for k, ok in OPTIONAL.items() if d.get(k) is not None and not ok(d[k])]  # type: ignore[union-attr]
        if not all(isinstance(v, str) for v in d["roles"].values()):  # type: ignore[index]
            bad.append("roles")
        if bad:
            raise ValueError(f"bad {bad}: {', '.join(f'{k} {d[k]!r}' for k in bad)}")  # type: ignore[index]
        return cls(**{k: v for k, v in d.items() if k in LINE_FIELDS})  # type: ignore[union-attr]


LINE_FIELDS = ("id", "status", "scenario", "roles", "duration_s", "turns", "error")
REQUIRED = {"id": str, "status": str, "scenario": str, "roles": dict}
OPTIONAL = {"duration_s": finite_number, "turns": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "error": lambda v: isinstance(v, str)}  # each may also be null


def write_index(run: Path, jobs: list, results: dict[str, ConversationResult], *, final: bool) -> None:
    """conversations.jsonl in plan order: the finished jobs while running, every job at the end
    (a job never finished is written as failed, "not run")."""
    buf = io.StringIO()
    with jsonlines.Writer(buf) as w:
        for job in jobs:
            if final or job.id in results:
                w.write((results.get(job.id) or ConversationResult.failed(job, "not run")).to_line())
    replace_atomic(Path(run) / "conversations.jsonl", buf.getvalue())


def read_index(run: Path) -> list[tuple[int, ConversationResult | str]]:
    """conversations.jsonl, line by line: each line's result, or what is wrong with that line."""
    out: list[tuple[int, ConversationResult | str]] = []
    for n, d in read_lines(Path(run) / "conversations.jsonl"):
        if isinstance(d, jsonlines.InvalidLineError):
            out.append((n, f"not a JSON line ({d.__cause__ or d})"))
            continue
        try:
            out.append((n, ConversationResult.from_line(d)))
        except (ValueError, TypeError) as e:
            out.append((n, str(e)))
    return out


def completed(run: Path, jobs: list) -> dict[str, ConversationResult]:
    """Results of the jobs whose folders are complete: the resume point of a run.

    A folder is complete when its meta.json is whole (folders appear only when complete); one
    with a missing or damaged meta.json is redone and replaced whole."""
    done = {}
    for job in jobs:
        meta = read_meta(conversation_dir(run, job.id))
        if isinstance(meta, dict) and "duration_s" in meta and "turns" in meta:
            done[job.id] = ConversationResult.for_job(job, "ok", duration_s=meta["duration_s"], turns=meta["turns"])
    return done
