"""One run's configuration: every `generate` setting, typed and checked once.

Over 300 lines because one owner of every setting is the point: its checks name the flags.

`RunConfig` is built by the CLI (from flags, or from a run's run.json plus the flags that may
change on `--resume`), handed whole to the supervisor and its runner processes, and its
non-secret part travels in every LiveKit dispatch (`EngineSpec`, `TimingSpec`). It owns:

- each setting's type, default and check, with a one-line error that names the flag;
- which settings make the plan (`PLAN`: fixed once a run has started, refused on --resume);
- the redacted form run.json keeps (`recorded`) and how it is read back (`from_recorded`).

Secrets never enter it: API keys and the LiveKit secret stay in the environment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS

MAX_COUNT = 100_000  # a plan is held in memory and in run.json; far beyond any nightly run
ENGINES = ("offline", "openai-realtime", "openai-pipeline")
TRANSPORTS = ("local", "livekit")
TURN_TAKING = ("natural", "strict")
HEARINGS = ("whisper", "transcript")
SPEAKING = ("auto", "espeak")  # the offline engine's voices (--tts): catalog voices where drawn, or espeak-ng
PERSONA_MODES = ("sampled", "files", "mixed")
LIBRARY_FOLDERS = ("scenarios_dir", "personas_dir")  # folders on the machine that made the run


def flag(field: str) -> str:
    """A setting's command-line flag: job_timeout -> --job-timeout."""
    return "--" + field.replace("_", "-")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenAISettings(_Frozen):
    """The openai-* engines' non-secret settings given on the command line (each falls back to
    its environment variable, engine/openai/config.py). URLs may carry credentials here; they
    are redacted wherever they are written or sent."""

    base_url: str | None = None
    llm_base_url: str | None = None
    stt_base_url: str | None = None
    tts_base_url: str | None = None
    realtime_base_url: str | None = None
    llm_model: str | None = None
    stt_model: str | None = None
    tts_model: str | None = None
    realtime_model: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}

    def redacted(self) -> OpenAISettings:
        from .engine.openai.config import redact_url

        return self.model_copy(update={k: redact_url(v) for k, v in self.given().items() if k.endswith("base_url")})


class EngineSpec(_Frozen):
    """Which engine plays a role and how: all a runner or a remote agent worker needs to build
    it (with its own environment for keys). `plugin`: the name is a `module:Class` the user gave
    on this command line; a run folder or a dispatch never names code to import."""

    name: str = "offline"
    hearing: Literal["whisper", "transcript"] | None = None
    tts: Literal["auto", "espeak"] = "auto"  # the offline engine's: espeak speaks even personas with a neural voice
    openai: OpenAISettings = OpenAISettings()

    @property
    def plugin(self) -> bool:
        return ":" in self.name

    def public(self) -> EngineSpec:
        """What may leave this process (run.json, a dispatch): URLs without credentials."""
        return self.model_copy(update={"openai": self.openai.redacted()})


class RunConfig(_Frozen):
    """Every setting of one `generate` run. Field order is run.json's `flags` order."""

    PLAN: ClassVar[frozenset[str]] = frozenset({
        "count", "seed", "engine", "transport", "scenario", "persona", "personas", "scenarios_dir",
        "personas_dir", "turn_taking", "impair", "hearing", "tts", "agent"})

    count: int = 10
    seed: int = 0
    concurrency: int = os.cpu_count() or 1
    engine: str = "offline"
    transport: Literal["local", "livekit"] = "local"
    hearing: Literal["whisper", "transcript"] | None = None  # the offline engine's; None for the others
    # the offline engine's speaking (SPEAKING); None: auto on the local transport, espeak in rooms
    tts: Literal["auto", "espeak"] | None = None
    scenario: tuple[str, ...] = ()
    persona: tuple[str, ...] = ()
    personas: Literal["sampled", "files", "mixed"] = "sampled"
    job_timeout: float = 300.0
    retries: int = 1
    max_failure_rate: float = 1.0
    turn_taking: Literal["natural", "strict"] = "natural"
    scenarios_dir: Path = DEFAULT_SCENARIOS
    personas_dir: Path = DEFAULT_PERSONAS
    impair: tuple[str, ...] = ()  # canonical specs (impair/stages.py)
    voices_dir: tuple[Path, ...] = ()  # voice folders of this machine (voices.py): not recorded in run.json
    agent: tuple[str, ...] = ()  # ROLE=AGENT_NAME: that role is somebody else's LiveKit agent (issue 28)
    openai: OpenAISettings = OpenAISettings()
    livekit_url: str | None = None  # the key and secret stay in the environment
    out: Path | None = None

    # --- checks: each message starts with the flag it is about --------------------------------

    @field_validator("count")
    @classmethod
    def _count(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1 (got {v})")
        if v > MAX_COUNT:
            raise ValueError(f"must be at most {MAX_COUNT} (got {v}); split the dataset into several runs")
        return v

    @field_validator("concurrency")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1 (got {v})")
        return v

    @field_validator("seed", "retries")
    @classmethod
    def _not_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be at least 0 (got {v})")
        return v

    @field_validator("max_failure_rate")
    @classmethod
    def _rate(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"must be between 0 and 1 (got {v})")
        return v

    @field_validator("job_timeout")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if not 0 < v < math.inf:
            raise ValueError(f"must be a positive number of seconds (got {v})")
        return v

    @field_validator("engine")
    @classmethod
    def _engine(cls, v: str) -> str:
        if v not in ENGINES and ":" not in v:
            raise ValueError(f"unknown engine {v!r} (choose from {', '.join(ENGINES)}, or module:Class)")
        return v

    @field_validator("voices_dir")
    @classmethod
    def _voice_folders(cls, v: tuple[Path, ...]) -> tuple[Path, ...]:
        for d in v:
            if not Path(d).is_dir():
                raise ValueError(f"{d}: no such folder")
        return tuple(Path(d).resolve() for d in v)

    @field_validator("impair")
    @classmethod
    def _impair(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from .impair.stages import parse

        return tuple(i.spec() for i in parse(list(v)))

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from .runfolder.names import NAME

        pairs: dict[str, str] = {}
        for given in v:
            role, sep, name = given.partition("=")
            role, name = role.strip(), name.strip()
            if not sep or not NAME.match(role) or not name or any(c.isspace() for c in name):
                raise ValueError(f"--agent {given!r}: expected ROLE=AGENT_NAME, e.g. agent=my-support-agent")
            if role in pairs:
                raise ValueError(f"--agent: role {role!r} is given twice")
            pairs[role] = name
        return tuple(f"{r}={n}" for r, n in sorted(pairs.items()))

    @property
    def agents(self) -> dict[str, str]:
        """--agent as role -> agent name."""
        return dict(a.split("=", 1) for a in self.agent)

    @model_validator(mode="after")
    def _agent_needs_a_room(self) -> RunConfig:
        if self.agent and self.transport != "livekit":
            raise ValueError("--agent: a LiveKit agent joins a room; add --transport livekit")
        return self

    @model_validator(mode="after")
    def _hearing(self) -> RunConfig:
        """The offline engine's hearing and voices: whisper and catalog voices by default on the
        local transport; LiveKit rooms hear the published transcript and speak with espeak-ng
        unless `--tts auto` is given. Other engines hear and speak with their own models."""
        if self.engine != "offline":
            if self.tts not in (None, "auto"):
                raise ValueError(f"--tts: only the offline engine has a choice of voices ({self.engine} speaks "
                                 "with its own TTS)")
            object.__setattr__(self, "tts", "auto")
            if self.hearing is not None:
                raise ValueError(f"--hearing: only the offline engine has a choice of hearing "
                                 f"({self.engine} has its own STT)")
            return self
        if self.tts is None:  # rooms run in real time: Piper voices on 2 cores fell behind it (README, Voices)
            object.__setattr__(self, "tts", "auto" if self.transport == "local" else "espeak")
        if self.hearing is None:
            object.__setattr__(self, "hearing", "whisper" if self.transport == "local" else "transcript")
        elif self.hearing == "whisper" and self.transport == "livekit":
            raise ValueError("--hearing whisper: LiveKit rooms hear by the published transcript for now; "
                             "use --hearing transcript")
        return self

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, **values: Any) -> RunConfig:
        """A config from flag values; ConfigError is one line naming the flag at fault."""
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as e:
            raise ConfigError(_one_line(e)) from None

    def with_(self, **changes: Any) -> RunConfig:
        """A checked copy with `changes` applied."""
        return type(self).build(**{**self.model_dump(exclude_defaults=False), **changes})

    @property
    def engine_spec(self) -> EngineSpec:
        return EngineSpec(name=self.engine, hearing=self.hearing, tts=self.tts or "auto", openai=self.openai)

    @property
    def timing(self) -> TimingSpec:
        return TimingSpec(turn_taking=self.turn_taking)

    # --- run.json ----------------------------------------------------------------------------

    def recorded(self) -> dict:
        """run.json's `flags`: no absolute path (the run is ".", the library folders relative to
        it; run.json's `machine_local` names them) and no credentials."""
        out = self.out or Path(".")
        flags: dict[str, Any] = {
            k: v for k, v in self.model_dump(mode="json").items()
            if k not in ("openai", "livekit_url", "out", "voices_dir")}
        for k in ("scenario", "persona", "impair", "agent"):
            flags[k] = list(flags[k])
        for k in LIBRARY_FOLDERS:
            flags[k] = Path(os.path.relpath(Path(getattr(self, k)).resolve(), out.resolve())).as_posix()
        flags.update(self.openai.redacted().given())
        if self.livekit_url:
            flags["livekit_url"] = self.livekit_url
        return {**flags, "out": "."}

    @classmethod
    def from_recorded(cls, flags: Mapping[str, Any], run: Path, *, relative_library: bool) -> RunConfig:
        """The config run.json recorded for `run` (raises ConfigError naming `flags.<field>`).
        Runs before 1.2 played persona files only, with the strict turn-taking clock, and
        recorded the library folders as given; a run from before --hearing heard the transcript."""
        flags = {"turn_taking": "strict", "personas": "files", **flags}
        expected: dict[str, type | tuple[type, ...]] = {"count": int, "seed": int, "concurrency": int, "engine": str, "transport": str, "scenario": list,
                    "persona": list, "job_timeout": (int, float), "retries": int, "max_failure_rate": (int, float),
                    "turn_taking": str, "scenarios_dir": str, "personas_dir": str}
        for name, kind in expected.items():
            if not isinstance(flags.get(name), kind) or isinstance(flags.get(name), bool):
                raise ConfigError(f"field flags.{name}: missing or not a {getattr(kind, '__name__', 'number')}")
        if relative_library:
            flags = {**flags, **{k: str(run / flags[k]) for k in LIBRARY_FOLDERS}}
        if "hearing" not in flags and flags.get("engine") == "offline":
            flags["hearing"] = "transcript"
        openai = {k: flags[k] for k in OpenAISettings.model_fields if flags.get(k)}
        known = set(cls.model_fields) - {"openai", "out", "voices_dir"}
        values = {k: v for k, v in flags.items() if k in known}
        try:
            return cls(**values, openai=OpenAISettings(**openai), out=run)
        except ValidationError as e:
            raise ConfigError(f"field flags.{_one_line(e, flags=False)}") from None


class TimingSpec(_Frozen):
    """How a conversation takes turns (transport/timing.py): the part of the config every
    transport and every remote agent needs."""

    turn_taking: Literal["natural", "strict"] = "natural"


def _one_line(e: ValidationError, flags: bool = True) -> str:
    """pydantic's first error as "--flag: message" (or "field: message")."""
    err = e.errors()[0]
    loc = [str(p) for p in err["loc"]]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc or msg.startswith("--"):  # the check named its flag itself
        if flags:
            return msg
        name = msg[2:].split(" ", 1)[0].split(":", 1)[0]
        return name.replace("-", "_") + msg[2 + len(name):]
    name = loc[0] if loc[0] != "openai" or len(loc) < 2 else loc[1]
    where = flag(name) if flags else name
    if err["type"] == "literal_error":
        choices = err.get("ctx", {}).get("expected", "")
        msg = f"unknown value {err.get('input')!r} (choose from {choices})"
    elif err["type"] in ("int_parsing", "float_parsing", "int_type", "float_type", "finite_number"):
        msg = f"not a number ({err.get('input')!r})"
    return f"{where}: {msg}"
