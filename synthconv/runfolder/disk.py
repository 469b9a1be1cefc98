"""Writing a run whole or not at all, and a disk that refuses writes.

A full or read-only disk stops the run the way an interrupt does (`DISK_ERRORS`), with one line
naming the path (`disk_problem`); `--resume` finishes it once there is room.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)  # the run cannot go on writing


def disk_problem(e: OSError) -> str:
    """One line for a write the disk refused: "no space left on device: /path"."""
    return f"{(e.strerror or str(e)).lower()}: {e.filename or 'the run folder'}"


def replace_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it; removed on failure)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def finite(value: float) -> float:
    """json.dumps writes NaN and Infinity, which are not JSON: refuse them at the source."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value
