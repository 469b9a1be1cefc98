"""Scenarios and personas: YAML files validated on load.

A scenario says *what* a call is about (two roles, their goals and private facts, and the beats
of the call); a persona says *who* plays a role (name, language, voice per engine, speaking
style). Both are plain pydantic models so a broken file fails with the file and the field named.
About 490 lines because the library is one contract: scenarios with their branches and their
expectations of an agent under test, personas, the axes a drawn persona keeps within and the
locales it draws from are validated together.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import LibraryError
from .runfolder.names import ID

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIOS = PACKAGE_ROOT / "scenarios"
DEFAULT_PERSONAS = PACKAGE_ROOT / "personas"
DEFAULT_LOCALES = PACKAGE_ROOT / "locales"

# Placeholders every line may use besides the speaker's own facts.
BUILTIN_SLOTS = {"name", "first_name", "peer", "echo"}
MAX_FILE_BYTES = 1_000_000  # a scenario or persona is a few kB; refuse what would eat memory
Id = Annotated[str, Field(pattern=f"^{ID}$")]  # ids and role keys name files and folders of a run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turns(_Strict):
    """How long a call runs. The one owner of the turn limits: the policy closes the call on its
    last turn (`left` <= 1), asks again only with room left, and the bridge stops a call that
    runs `OVERRUN` turns past `max` (a policy that failed to close)."""

    OVERRUN: ClassVar[int] = 2

    min: int = Field(default=6, ge=2)
    max: int = Field(default=16, ge=2)

    def left(self, said: int) -> int:
        """Turns left after `said` turns (1: the next is the last; below 1: past the limit)."""
        return self.max - said

    def overrun(self, said: int) -> bool:
        """Whether the next turn, after `said`, is past the bridge's hard stop."""
        return self.left(said) <= -self.OVERRUN + 1

    @model_validator(mode="after")
    def _order(self) -> Turns:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        return self


Verbosity = Literal["terse", "normal", "verbose"]
Politeness = Literal["low", "normal", "high"]
Fillers = Literal["none", "some", "many"]
Pace = Literal["slow", "normal", "fast"]
Mood = Literal["calm", "cheerful", "frustrated", "anxious", "tired", "hurried"]
Gender = Literal["female", "male"]
Age = Literal["18-29", "30-44", "45-64", "65+"]


class Axes(_Strict):
    """Constraints on a drawn persona (personas.py): each list limits one axis; empty is any."""

    locales: list[str] = Field(default_factory=list)  # default: every locale of the language
    genders: list[Gender] = Field(default_factory=list)
    ages: list[Age] = Field(default_factory=list)
    verbosity: list[Verbosity] = Field(default_factory=list)
    politeness: list[Politeness] = Field(default_factory=list)
    fillers: list[Fillers] = Field(default_factory=list)
    pace: list[Pace] = Field(default_factory=list)
    mood: list[Mood] = Field(default_factory=list)


class TurnTaking(_Strict):
    """How this scenario's calls take turns under `--turn-taking natural` (transport/timing.py)."""

    offset_mode: float | None = Field(default=None, ge=-0.5, le=1.5)  # seconds; None: the fitted 0.2 s
    interruptions: float = Field(default=1.0, ge=0, le=5)  # scales the share of turns cut off
    backchannels: float = Field(default=1.0, ge=0, le=5)  # scales how often the listener backchannels


class Role(_Strict):
    label: str
    goal: str
    # A fact is one value, or a list of values of which each conversation draws one.
    facts: dict[str, str | list[str]] = Field(default_factory=dict)
    personas: list[Id] = Field(default_factory=list)  # persona files that may play the role
    sample: Axes = Axes()  # and the axes a drawn persona of the role keeps within


class Beat(_Strict):
    """One turn of the call: who speaks, in which phase, and ways of saying it."""

    role: Id
    phase: Literal["opening", "problem", "verification", "resolution", "closing"]
    say: list[str] = Field(min_length=1)
    more: list[str] = Field(default_factory=list)  # extra sentences for verbose speakers


class Branch(_Strict):
    """A complication drawn per conversation (a failed verification, a wrong amount, an upset
    caller...): from beat `at` of the main script on, the call follows the branch's own beats to
    its own outcome. Its facts add to (or override) the roles' facts."""

    id: Id
    title: str
    at: int = Field(ge=1)  # index of the first main-script beat the branch replaces
    weight: float = Field(default=1.0, gt=0)  # against the main path's 1
    facts: dict[Id, dict[str, str | list[str]]] = Field(default_factory=dict)  # role -> extra facts
    outcome: list[str] = Field(min_length=1)
    script: list[Beat] = Field(min_length=1)


class SayPattern(_Strict):
    """Something the agent under test must say, as a regular expression (Python `re`, searched
    case-insensitively in each of its turns): "[A-Z]{2}-\\d{4}" for a reference of that shape."""

    pattern: str
    name: str | None = None  # how a report names it ("reference number"); default: the pattern

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression ({e})") from None
        return v

    @property
    def label(self) -> str:
        return self.name or self.pattern


class Expect(_Strict):
    """What the agent under test must do in every call of the scenario, each checked pass/fail
    with its evidence (synthconv/under_test/expect.py): phrases (a string: its words, case and
    punctuation ignored) or patterns it must say, the caller's facts it must ask for (keys of the
    caller's facts, or `name`), and limits on its p95 response latency and on how long it keeps
    talking once the caller cuts in."""

    say: list[SayPattern | str] = Field(default_factory=list)  # a pattern first: its errors are the ones told
    ask_for: list[str] = Field(default_factory=list)
    max_p95_latency_s: float | None = Field(default=None, gt=0)
    max_yield_s: float | None = Field(default=None, gt=0)

    @property
    def empty(self) -> bool:
        return not (self.say or self.ask_for or self.max_p95_latency_s or self.max_yield_s)


class UnderTest(_Strict):
    """A role played by somebody else's LiveKit agent (`generate --agent ROLE=AGENT_NAME`, or the
    scenario's own `under_test` with an `agent_name`): synthconv plays the other role and
    checks `expect` against what the agent did."""

    role: Id
    agent_name: str | None = Field(default=None, min_length=1, max_length=200)
    expect: Expect = Expect()


class Scenario(_Strict):
    id: Id
    title: str
    domain: str
    language: str
    first_speaker: Id
    turns: Turns = Turns()
    turn_taking: TurnTaking = TurnTaking()
    roles: dict[Id, Role]  # the keys name the tracks: tracks/<role>.wav
    outcome: list[str] = Field(min_length=1)
    script: list[Beat] = Field(min_length=2)
    branches: list[Branch] = Field(default_factory=list)
    under_test: UnderTest | None = None

    @field_validator("roles")
    @classmethod
    def _two_roles(cls, roles: dict[str, Role]) -> dict[str, Role]:
        if len(roles) != 2:
            raise ValueError(f"a scenario has exactly two roles, found {len(roles)}")
        return roles

    @model_validator(mode="after")
    def _script_fits_roles(self) -> Scenario:
        if self.first_speaker not in self.roles:
            raise ValueError(f"first_speaker {self.first_speaker!r} is not one of the roles")
        if self.script[0].role != self.first_speaker:
            raise ValueError("script must open with first_speaker")
        self._check_script(self.script, "script", 0, {})
        if {b.role for b in self.script} != set(self.roles):
            raise ValueError("both roles must speak in the script")
        if self.under_test is not None:
            self._check_under_test(self.under_test)
        if len(self.script) < self.turns.min:  # a call ends with its last beat: it would always fail
            raise ValueError(f"turns.min is {self.turns.min} but the script has {len(self.script)} beats")
        ids = set()
        for n, br in enumerate(self.branches):
            where = f"branches.{n}"
            if br.id in ids:
                raise ValueError(f"{where}.id: duplicate branch {br.id!r}")
            ids.add(br.id)
            if br.at >= len(self.script):
                raise ValueError(f"{where}.at: {br.at} is past the script's last beat ({len(self.script) - 1})")
            for role in br.facts:
                if role not in self.roles:
                    raise ValueError(f"{where}.facts: {role!r} is not one of the roles")
            self._check_script(self.script[:br.at] + br.script, f"{where}.script", br.at, br.facts)
            if br.at + len(br.script) < self.turns.min:
                raise ValueError(f"{where}: turns.min is {self.turns.min} but this branch plays "
                                 f"{br.at + len(br.script)} beats")
        return self

    def _check_under_test(self, ut: UnderTest) -> None:
        if ut.role not in self.roles:
            raise ValueError(f"under_test.role {ut.role!r} is not one of the roles")
        caller = next(r for r in self.roles if r != ut.role)
        known = set(self.roles[caller].facts) | {"name"} | {k for b in self.branches for k in b.facts.get(caller, {})}
        for key in ut.expect.ask_for:
            if key not in known:
                raise ValueError(f"under_test.expect.ask_for: {key!r} is not a fact of {caller} "
                                 f"(known: {', '.join(sorted(known))})")

    def agent_on_line(self, agents: Mapping[str, str]) -> UnderTest | None:
        """Which role somebody else's agent plays in this scenario, and which agent: the role
        `agents` (--agent ROLE=AGENT_NAME) names, else the scenario's `under_test` when it names
        an agent; None when synthconv plays both roles. ValueError (naming --agent) when the
        flags name both roles, or none of this scenario's."""
        named = [r for r in self.role_keys if r in agents]
        if len(named) > 1:
            raise ValueError(f"--agent names both roles of scenario {self.id} ({', '.join(named)}): "
                             "synthconv plays one of them")
        if named:
            role = named[0]
            own = self.under_test if self.under_test is not None and self.under_test.role == role else None
            return (own or UnderTest(role=role)).model_copy(update={"agent_name": agents[role]})
        if agents:
            raise ValueError(f"--agent {', '.join(f'{r}={n}' for r, n in agents.items())}: scenario {self.id} has "
                             f"no role {' or '.join(map(repr, agents))} (its roles: {', '.join(self.role_keys)})")
        return self.under_test if self.under_test is not None and self.under_test.agent_name else None

    def _check_script(self, script: list[Beat], where: str, start: int, extra: dict) -> None:
        """Roles alternate and every placeholder names a fact of the speaker (beats from `start`
        on are the ones `where` names, counted from 0)."""
        for i, beat in enumerate(script):
            if i < start and where != "script":
                continue
            at = f"{where}.{i - start}"
            if beat.role not in self.roles:
                raise ValueError(f"{at}.role {beat.role!r} is not one of the roles")
            if i and beat.role == script[i - 1].role:
                raise ValueError(f"{at}: roles must alternate")
            slots = set(self.roles[beat.role].facts) | set(extra.get(beat.role, {})) | BUILTIN_SLOTS
            for line in beat.say + beat.more:
                if line.count("[") != line.count("]"):
                    raise ValueError(f"{at}: unbalanced [a|b] group in {line!r}")
                for _, name, _, _ in string.Formatter().parse(line):
                    if name is not None and name not in slots:
                        raise ValueError(f"{at}: unknown placeholder {{{name}}} in {line!r}")

    def branch_of(self, seed: int) -> Branch | None:
        """The complication the conversation with `seed` takes (None: the main script)."""
        import random

        if not self.branches:
            return None
        options: list[Branch | None] = [None, *self.branches]
        return random.Random(f"{seed}:branch").choices(options, weights=[1.0] + [b.weight for b in self.branches])[0]

    def play(self, branch: Branch | None) -> Scenario:
        """This scenario as one conversation plays it: the branch's beats, outcome and facts in
        place of the main path's (no branches left to draw)."""
        if branch is None:
            return self.model_copy(update={"branches": []})
        roles = {k: r.model_copy(update={"facts": {**r.facts, **branch.facts.get(k, {})}})
                 for k, r in self.roles.items()}
        return self.model_copy(update={"roles": roles, "outcome": branch.outcome, "branches": [],
                                       "script": self.script[:branch.at] + branch.script})

    @property
    def role_keys(self) -> list[str]:
        """Roles in speaking order: the first speaker first."""
        return [self.first_speaker] + [r for r in self.roles if r != self.first_speaker]


class OfflineVoice(_Strict):
    voice: str  # an espeak-ng voice name with variant, e.g. "en-us+m3"
    rate: int = Field(default=170, ge=80, le=400)  # words per minute
    pitch: int = Field(default=50, ge=0, le=99)
    range: int = Field(default=50, ge=0, le=99)


class PiperVoice(_Strict):
    """A neural voice from the catalog (`synthconv voices`) and the prosody this persona gives it."""

    voice: str = Field(min_length=1)  # a catalog name: a Piper model ("en_US-joe-medium"), or model:speaker
    length_scale: float = Field(default=1.0, ge=0.7, le=1.4)  # above 1 is slower
    noise_scale: float = Field(default=0.667, ge=0.3, le=1.0)  # variation of the voice
    noise_w_scale: float = Field(default=0.8, ge=0.3, le=1.2)  # variation of phoneme lengths
    pitch: float = Field(default=0.0, ge=-4.0, le=4.0)  # semitones; formants move with it (resampled)


class Voices(_Strict):
    offline: OfflineVoice  # espeak-ng: every persona has one (languages without a neural voice)
    piper: PiperVoice | None = None  # the offline engine speaks with it where the catalog has it
    openai: str = "alloy"  # any voice name the TTS server knows (OpenAI's, or a local server's)


class Style(_Strict):
    verbosity: Verbosity = "normal"
    politeness: Politeness = "normal"
    fillers: Fillers = "some"
    pace: Pace = "normal"
    mood: Mood = "calm"


class Persona(_Strict):
    id: Id
    name: str
    roles: list[Id] = Field(min_length=1)
    language: str
    locale: str
    voice: Voices
    style: Style = Style()
    gender: Gender | None = None  # presentation; drawn personas always say, files may
    age: Age | None = None

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class Locale(_Strict):
    """locales/<locale>.yaml: what a drawn persona of one locale may be called and sound like."""

    locale: str
    language: str
    voices: list[str] = Field(min_length=1)  # espeak-ng voices without variant
    female: list[str] = Field(min_length=1)
    male: list[str] = Field(min_length=1)
    family: list[str] = Field(min_length=1)

    @property
    def id(self) -> str:
        return self.locale


@dataclass(frozen=True)
class Library:
    scenarios: dict[str, Scenario]
    personas: dict[str, Persona]
    locales: dict[str, Locale] = field(default_factory=dict)  # for drawn personas


class _Bounded(yaml.SafeLoader):
    """safe_load whose document, with every alias expanded, stays within MAX_FILE_BYTES: `*name`
    repeats a node without repeating its bytes, so a 200 kB file of aliases can stand for 200 MB
    of meta.json per conversation. Library files use a few aliases to share a fact list between
    roles; the bound counts each use."""

    def construct_document(self, node):  # noqa: ANN001, ANN201 - yaml's own signature
        size, todo = 0, [node]
        while todo:
            n = todo.pop()
            if isinstance(n, yaml.ScalarNode):
                size += len(n.value) + 1
            elif isinstance(n, yaml.SequenceNode):
                todo += n.value
            elif isinstance(n, yaml.MappingNode):
                todo += [x for pair in n.value for x in pair]
            if size > MAX_FILE_BYTES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_FILE_BYTES} bytes with its aliases (*name) expanded", node.start_mark)
        return super().construct_document(node)


def _load_one(path: Path, model: type[BaseModel]) -> BaseModel:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LibraryError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_FILE_BYTES} a library file may have")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Bounded)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError as e:
        raise LibraryError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise LibraryError(f"{path}:{where} malformed YAML ({getattr(e, 'problem', e)})") from None
    except OSError as e:
        raise LibraryError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(data, dict):
        raise LibraryError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        raise LibraryError(f"{path}: field {field}: {msg}") from None


def _load_dir(folder: Path, model: type[BaseModel]) -> tuple[dict, dict[str, Path]]:
    """All files of one folder, keyed by id, and the file each id came from."""
    if not folder.is_dir():
        raise LibraryError(f"{folder}: no such folder")
    items: dict[str, BaseModel] = {}
    paths: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        item = _load_one(path, model)
        if item.id in items:  # type: ignore[attr-defined]
            raise LibraryError(f"{path}: field id: duplicate id {item.id!r}")  # type: ignore[attr-defined]
        items[item.id] = item  # type: ignore[attr-defined]
        paths[item.id] = path  # type: ignore[attr-defined]
    if not items:
        raise LibraryError(f"{folder}: no .yaml files")
    return items, paths


def load_library(
    scenarios_dir: Path = DEFAULT_SCENARIOS, personas_dir: Path = DEFAULT_PERSONAS,
    locales_dir: Path = DEFAULT_LOCALES,
) -> Library:
    """Load and cross-check every scenario, persona and locale file."""
    scenarios, paths = _load_dir(Path(scenarios_dir), Scenario)
    personas, _ = _load_dir(Path(personas_dir), Persona)
    locales, _ = _load_dir(Path(locales_dir), Locale)
    for sc in scenarios.values():
        for key, role in sc.roles.items():
            where = f"{paths[sc.id]}: field roles.{key}"
            for loc in role.sample.locales:
                if loc not in locales or locales[loc].language != sc.language:
                    known = sorted(k for k, v in locales.items() if v.language == sc.language)
                    raise LibraryError(f"{where}.sample.locales: no {sc.language!r} locale {loc!r} (known: {', '.join(known)})")
            for pid in role.personas:
                where = f"{paths[sc.id]}: field roles.{key}.personas"
                p = personas.get(pid)
                if p is None:
                    raise LibraryError(f"{where}: unknown persona {pid!r}")
                if key not in p.roles:
                    raise LibraryError(f"{where}: persona {pid!r} does not play role {key!r}")
                if p.language != sc.language:
                    raise LibraryError(
                        f"{where}: persona {pid!r} speaks {p.language!r}, scenario is {sc.language!r}"
                    )
    return Library(scenarios=scenarios, personas=personas, locales=locales)


def draw_facts(scenario: Scenario, seed: int) -> dict[str, dict[str, str]]:
    """Each role's facts for one conversation. A listed fact draws one value per conversation,
    the same for both roles when both know it (the draw depends on the fact, not the role). The
    digits of an ID in a drawn value are drawn afresh (fresh_digits): every caller has their own
    account number, not one of the four the scenario lists."""
    import random

    # one currency per call: lists may hold "$312.40" and "£89.99", a call draws amounts in one
    listed = [v for role in scenario.roles.values() for vs in role.facts.values() if not isinstance(vs, str) for v in vs]
    held = [c for v in listed for c in set(v) & CURRENCIES]  # as often as the lists hold each
    money = random.Random(f"{seed}:currency").choice(sorted(held)) if len(set(held)) > 1 else None

    def draw(name: str, values: list[str]) -> str:
        if money:
            values = [v for v in values if not set(v) & (CURRENCIES - {money})] or values
        return fresh_digits(random.Random(f"{seed}:fact:{name}").choice(values), seed)

    return {key: {name: value if isinstance(value, str) else draw(name, value) for name, value in role.facts.items()}
            for key, role in scenario.roles.items()}


CURRENCIES = set("$£€₹")


# An ID: digit groups joined by a space or hyphen, 4+ digits in all ("RE-448190", "8815 0436",
# "630 228 4915", "MC 752301"), not an amount ("$1,250", "₹1499") and not a year ("1993").
_ID_DIGITS = re.compile(r"(?<![\d$₹£€.,])\d+(?:[ -]\d+)*(?![\d%]|[.,]\d)")


def fresh_digits(value: str, seed: int) -> str:
    """`value` with each ID's digits after the first replaced by others, drawn from `seed` and the
    ID: the same ID in two facts of one conversation stays the same ID."""
    import random

    def swap(m: re.Match) -> str:
        ident = m.group(0)
        digits = [c for c in ident if c.isdigit()]
        if len(digits) < 4 or (len(digits) == 4 and ident.isdigit() and 1900 <= int(ident) <= 2099):
            return ident
        r = random.Random(f"{seed}:id:{ident}")
        new = [c if i == 0 else str(r.randrange(10)) for i, c in enumerate(digits)]  # a prefix stays (a mobile's 9)
        it = iter(new)
        return "".join(next(it) if c.isdigit() else c for c in ident)

    return _ID_DIGITS.sub(swap, value)
