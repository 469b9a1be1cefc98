"""One writer per run: RUN/.lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import RunFolderError
from .disk import disk_problem


class RunLock:
    """An exclusive lock on RUN/.lock for as long as one `generate` writes into the run.

    flock is released by the kernel when the holder dies, however it dies, so a killed run never
    leaves a stale lock behind.
    """

    def __init__(self, run: Path) -> None:
        self.path = Path(run) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            # read-only: a lock held open for writing would keep the disk from being remounted
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunFolderError(f"{self.path.parent}: cannot lock the run ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(f"{self.path.parent}: another synthconv (pid {holder}) is writing this run; "
                                 "wait for it to end") from None
        self._fd = fd
        try:
            self.path.write_text(f"{os.getpid()}\n")  # who holds it, for the message above
        except OSError as e:
            self.release()
            raise RunFolderError(f"{self.path.parent}: cannot write to the run ({disk_problem(e)})") from None
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
