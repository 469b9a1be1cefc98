"""The records of a run folder (docs/FORMAT.md), one frozen class each, as lhotse's
`SupervisionSegment` is: `to_dict` writes the current format, `from_dict` reads every version
since 1.0 and raises `SchemaError` naming the field of a record it cannot read.
About 310 lines because every record of the contract is here, each with its checks.

- `WordSpan`, `TranscriptLine`: a line of conversations/<id>/transcript.jsonl;
- `IndexLine`: a line of conversations.jsonl (how one planned conversation ended);
- `ConversationMeta`: conversations/<id>/meta.json, the keys every reader relies on, the rest kept
  as written;
- `AgentUnderTest`, `AgentCheck`: meta.json `agent_under_test`, how somebody else's agent did in
  the call (issue 28).

Writers (runfolder/conversation.py, index.py), `inspect`, `export`, `report` and `serve` read
and write through these; nothing else spells a record's keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .names import NAME

FORMAT_VERSION = "1.8"


class SchemaError(ValueError):
    """A record that does not read as its format says; the message names the field."""


def _number(d: Mapping[str, Any], key: str, *, optional: bool = False) -> float | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SchemaError(f"{key}: {v!r} is not a number")
    return v


def _text(d: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise SchemaError(f"{key}: {v!r} is not a string")
    return v


def _flag(d: Mapping[str, Any], key: str) -> bool:
    v = d.get(key)
    if not isinstance(v, bool):
        raise SchemaError(f"{key}: {v!r} is not true or false")
    return v


def _count(d: Mapping[str, Any], key: str, *, optional: bool = False) -> int | None:
    v = d.get(key)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise SchemaError(f"{key}: {v!r} is not a non-negative integer")
    return v


def _role(d: Mapping[str, Any], key: str = "role") -> str:
    v = _text(d, key)
    assert v is not None
    if not NAME.match(v):
        raise SchemaError(f"{key}: {v!r} is not a role id")
    return v


@dataclass(frozen=True)
class WordSpan:
    """A spoken word and when it was said (seconds from the conversation's start)."""

    word: str
    start: float
    end: float

    def to_dict(self) -> dict:
        return {"word": self.word, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: object) -> WordSpan:
        if not isinstance(d, Mapping):
            raise SchemaError(f"{d!r} is not a word object")
        return cls(word=_text(d, "word") or "", start=_number(d, "start") or 0.0, end=_number(d, "end") or 0.0)


@dataclass(frozen=True)
class TranscriptLine:
    """One line of transcript.jsonl: a turn, or a backchannel said during the peer's turn.

    The fields up to `heard` are in every version (1.0); the rest came with 1.2 and read as
    their defaults from older lines. Field order is the key order written."""

    turn: int
    role: str
    speaker: str
    text: str  # the words actually spoken (up to the cut when interrupted)
    start: float
    end: float
    interrupted: bool
    heard: str | None  # what the listener's STT made of it
    kind: str = "turn"  # or "backchannel"
    intended: str | None = None  # the full planned line of an interrupted turn
    words: tuple[WordSpan, ...] | None = None  # None: the speaking engine gives no word timing
    disfluencies: tuple[Mapping[str, Any], ...] = ()  # {type, index, text} (labels.py)
    wer: float | None = None  # of `heard` against `text`
    segment_id: str | None = None  # <conversation id>-<turn:04d>
    persona_id: str | None = None
    language: str | None = None
    locale: str | None = None
    spoken: str | None = None  # `text` in spoken form (spoken.py)

    REQUIRED = ("turn", "role", "speaker", "text", "start", "end", "interrupted", "heard")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["words"] = None if self.words is None else [w.to_dict() for w in self.words]
        d["disfluencies"] = [dict(x) for x in self.disfluencies]
        return d

    @classmethod
    def from_dict(cls, d: object) -> TranscriptLine:
        if not isinstance(d, Mapping):
            raise SchemaError("not a JSON object")
        missing = [k for k in cls.REQUIRED if k not in d]
        if missing:
            raise SchemaError(f"missing {missing}")
        kind = _text(d, "kind", optional=True) or "turn"
        if kind not in ("turn", "backchannel"):
            raise SchemaError(f"kind: {kind!r} is not turn or backchannel")
        words = d.get("words")
        if words is not None and not isinstance(words, list):
            raise SchemaError(f"words: {words!r} is not a list")
        disfluencies = d.get("disfluencies") or []
        if not isinstance(disfluencies, list) or not all(isinstance(x, Mapping) for x in disfluencies):
            raise SchemaError("disfluencies: not a list of objects")
        start, end = _number(d, "start"), _number(d, "end")
        assert start is not None and end is not None
        if end < start:
            raise SchemaError(f"end {end} before start {start}")
        return cls(turn=_count(d, "turn") or 0, role=_role(d), speaker=_text(d, "speaker") or "",
                   text=_text(d, "text") or "", start=start, end=end, interrupted=_flag(d, "interrupted"),
                   heard=_text(d, "heard", optional=True), kind=kind, intended=_text(d, "intended", optional=True),
                   words=None if words is None else tuple(WordSpan.from_dict(w) for w in words),
                   disfluencies=tuple(disfluencies), wer=_number(d, "wer", optional=True),
                   segment_id=_text(d, "segment_id", optional=True), persona_id=_text(d, "persona_id", optional=True),
                   language=_text(d, "language", optional=True), locale=_text(d, "locale", optional=True),
                   spoken=_text(d, "spoken", optional=True))


@dataclass
class IndexLine:
    """How one planned conversation ended: a line of conversations.jsonl, and what a runner
    process hands the supervisor (`transient` and `disk` travel only between those two)."""

    id: str
    status: str  # ok, failed, or pending (only in a reader's view of an unfinished run)
    scenario: str
    roles: dict[str, str]  # role key -> persona id
    duration_s: float | None = None
    turns: int | None = None
    error: str | None = None  # one line, when failed
    transient: bool = False  # trying again may help (time-out, dropped connection, rate limit)
    disk: str | None = None  # the disk refused a write: the run stops, the job is redone on resume

    WRITTEN = ("id", "status", "scenario", "roles", "duration_s", "turns", "error")

    @classmethod
    def for_job(cls, job: Any, status: str = "pending", **kw: Any) -> IndexLine:  # a job.Job
        return cls(id=job.id, status=status, scenario=job.scenario, roles=dict(job.roles), **kw)

    @classmethod
    def failed(cls, job: Any, error: str, transient: bool = False) -> IndexLine:
        return cls.for_job(job, "failed", error=error, transient=transient)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        """The conversations.jsonl record (and what `inspect --json` prints)."""
        return {k: getattr(self, k) for k in self.WRITTEN}

    @classmethod
    def from_dict(cls, d: object) -> IndexLine:
        if not isinstance(d, Mapping):
            raise SchemaError("not a JSON object")
        bad = [k for k, kind in (("id", str), ("status", str), ("scenario", str), ("roles", dict))
               if not isinstance(d.get(k), kind)]
        if "roles" not in bad and not all(isinstance(v, str) for v in d["roles"].values()):
            bad.append("roles")  # persona ids: a list would crash whatever counts by persona
        if bad:
            raise SchemaError(f"missing or bad {bad}")
        return cls(id=d["id"], status=d["status"], scenario=d["scenario"], roles=dict(d["roles"]),
                   duration_s=_number(d, "duration_s", optional=True), turns=_count(d, "turns", optional=True),
                   error=_text(d, "error", optional=True))


@dataclass(frozen=True)
class ConversationMeta:
    """meta.json of a complete conversation: the keys every reader relies on, checked, and the
    whole object as written (`raw`: labels, voices, hearing, facts, livekit, impaired, ...)."""

    id: str
    scenario: Mapping[str, Any]  # {id, title, domain, language}
    personas: Mapping[str, Mapping[str, Any]]  # role -> persona, in full; the first key is the first role
    seed: int
    sample_rate: int
    duration_s: float
    turns: int
    wer: float | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def roles(self) -> list[str]:
        return list(self.personas)

    def get(self, key: str, default: Any = None) -> Any:
        """Any key of meta.json as written."""
        return self.raw.get(key, default)

    def to_dict(self) -> dict:
        return dict(self.raw)

    @classmethod
    def from_dict(cls, d: object) -> ConversationMeta:
        if not isinstance(d, Mapping):
            raise SchemaError("not a JSON object")
        scenario, personas = d.get("scenario"), d.get("personas")
        if not isinstance(scenario, Mapping) or not isinstance(scenario.get("id"), str):
            raise SchemaError("scenario: not an object with an id")
        if (not isinstance(personas, Mapping) or not personas
                or not all(isinstance(r, str) and NAME.match(r) and isinstance(p, Mapping) for r, p in personas.items())):
            raise SchemaError("personas: not an object of role ids to personas")
        return cls(id=_text(d, "id") or "", scenario=scenario, personas=personas, seed=_count(d, "seed") or 0,
                   sample_rate=_count(d, "sample_rate") or 0, duration_s=_number(d, "duration_s") or 0.0,
                   turns=_count(d, "turns") or 0, wer=_number(d, "wer", optional=True), raw=dict(d))


CHECK_STATUSES = ("pass", "fail", "not measured")


@dataclass(frozen=True)
class AgentCheck:
    """One expectation of the agent under test, checked on one call (under_test/expect.py)."""

    name: str  # "say: reference number", "ask_for: dob", "max_p95_latency_s", "max_yield_s"
    status: str  # pass, fail or not measured
    evidence: str  # one line: where it was seen, or why it failed or could not be measured
    turn: int | None = None
    at: float | None = None  # seconds from the conversation's start

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "evidence": self.evidence, "turn": self.turn, "at": self.at}

    @classmethod
    def from_dict(cls, d: object) -> AgentCheck:
        if not isinstance(d, Mapping):
            raise SchemaError("checks: an entry is not an object")
        status = _text(d, "status")
        if status not in CHECK_STATUSES:
            raise SchemaError(f"checks: status {status!r} is not one of {', '.join(CHECK_STATUSES)}")
        return cls(name=_text(d, "name") or "", status=status or "", evidence=_text(d, "evidence") or "",
                   turn=_count(d, "turn", optional=True), at=_number(d, "at", optional=True))


@dataclass(frozen=True)
class AgentUnderTest:
    """meta.json `agent_under_test`: the figures every reader uses, checked, and the whole object
    as written (`raw`: replies, barge-ins, talking over, silences, speech seconds, ...)."""

    role: str  # the role the agent played
    agent_name: str
    caller: str  # the role synthconv played
    response_latency_s: tuple[float, ...]
    yield_s: tuple[float | None, ...]
    heard_wer: float | None  # the agent's transcript of the caller against what the caller said
    checks: tuple[AgentCheck, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def to_dict(self) -> dict:
        return dict(self.raw)

    @classmethod
    def from_dict(cls, d: object) -> AgentUnderTest:
        if not isinstance(d, Mapping):
            raise SchemaError("agent_under_test: not an object")
        lat, yields, checks = d.get("response_latency_s"), d.get("yield_s"), d.get("checks")
        if not isinstance(lat, list) or not all(_is_number(x) and x >= 0 for x in lat):
            raise SchemaError("agent_under_test.response_latency_s: not a list of seconds")
        if not isinstance(yields, list) or not all(x is None or _is_number(x) and x >= 0 for x in yields):
            raise SchemaError("agent_under_test.yield_s: not a list of seconds or nulls")
        if not isinstance(checks, list):
            raise SchemaError("agent_under_test.checks: not a list")
        try:
            return cls(role=_role(d), agent_name=_text(d, "agent_name") or "", caller=_role(d, "caller"),
                       response_latency_s=tuple(lat), yield_s=tuple(yields),
                       heard_wer=_number(d, "heard_wer", optional=True),
                       checks=tuple(AgentCheck.from_dict(c) for c in checks), raw=dict(d))
        except SchemaError as e:
            raise SchemaError(f"agent_under_test.{e}") from None


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
