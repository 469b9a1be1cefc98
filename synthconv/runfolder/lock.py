"""One writer per run (or any number of readers): RUN/.lock."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import RunFolderError
from .disk import disk_problem


class RunLock:
    """An exclusive lock on RUN/.lock for as long as one `generate` or `impair` writes into the
    run, or (`shared=True`) a lock any number of readers (`export`) hold while no writer does.

    flock is released by the kernel when the holder dies, however it dies, so a killed run never
    leaves a stale lock behind. The descriptor is close-on-exec; a forked child would still
    share it (and keep the lock past its parent): writers start their workers with spawn.
    """

    def __init__(self, run: Path, shared: bool = False) -> None:
        self.path = Path(run) / ".lock"
        self.shared = shared
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            # read-only: a lock held open for writing would keep the disk from being remounted
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            if self.shared and e.errno in (errno.EROFS, errno.EACCES):
                return self  # a run nobody may write here: nothing can change under the reader
            raise RunFolderError(f"{self.path.parent}: cannot lock the run ({e.strerror})") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            pids = (", ".join(map(str, _holders(fd)))
                    or os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown")
            os.close(fd)
            raise RunFolderError(f"{self.path.parent}: another synthconv (pid {pids}) is "
                                 f"{'writing' if self.shared else 'using'} this run; wait for it to end") from None
        self._fd = fd
        if self.shared:
            return self
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


def _holders(fd: int) -> list[int]:
    """The pids holding flocks on the file open as `fd`, from /proc/locks (Linux; else none):
    a reader writes no pid of its own into .lock."""
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            rows = [line.split() for line in f if "->" not in line]  # "->": a waiter, not a holder
    except OSError:
        return []
    return sorted({int(r[4]) for r in rows if len(r) > 5 and r[1] == "FLOCK" and r[5] == key and r[4].isdigit()})
