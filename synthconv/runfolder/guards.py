"""Guards of the run folder: names that become paths, one writer at a time, a readable run.json.

A run folder lives in shared storage and is filled from files many people edit, so nothing read
from a file may decide where a write goes without being checked here first.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
from pathlib import Path

from ..errors import RunFolderError

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")  # scenario, persona and role ids
JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}-[0-9a-f]{8}$")  # <scenario>-<content hash>
DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)  # the run cannot go on writing


def disk_problem(e: OSError) -> str:
    """One line for a write the disk refused: "no space left on device: /path"."""
    return f"{(e.strerror or str(e)).lower()}: {e.filename or 'the run folder'}"


def conversation_dir(run: Path, job_id: str) -> Path:
    """RUN/conversations/<job_id>, refused unless the id is a job id and the path stays inside."""
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise RunFolderError(f"{run}: {job_id!r} is not a conversation id")
    base = (Path(run) / "conversations").resolve()
    path = (base / job_id).resolve()
    if path.parent != base:
        raise RunFolderError(f"{run}: conversation {job_id} resolves outside the run ({path})")
    folder = Path(run) / "conversations" / job_id
    no_links(folder.parent, folder)
    return folder


def no_links(*paths: Path) -> None:
    """Refuse a symbolic link at any of `paths` or, for a folder, anywhere inside it (a
    conversation's files, tracks/ and impaired/; not the whole conversations/ folder). Nothing that reads or rewrites a run
    follows a link: a `tracks/a.wav` pointing at a credentials file would be served, exported or
    overwritten as if it were audio."""
    for path in paths:
        if path.is_symlink():
            raise RunFolderError(f"{path}: a symbolic link; synthconv does not follow links inside a run folder")
        if path.name != "conversations" and path.is_dir():
            for entry in os.scandir(path):
                if entry.is_symlink():
                    raise RunFolderError(f"{entry.path}: a symbolic link; synthconv does not follow links inside "
                                         "a run folder")
                if entry.is_dir(follow_symlinks=False):
                    no_links(Path(entry.path))


def tmp_dir(run: Path, job_id: str) -> Path:
    """Where a conversation is written before it is renamed into place under its id."""
    return conversation_dir(run, job_id).with_name(f".tmp-{job_id}")


def replace_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it; removed on failure)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def finite(value: float) -> float:
    """json.dumps writes NaN and Infinity, which are not JSON: refuse them at the source."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return value


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
            holders = _holders(fd) or [os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"]
            os.close(fd)
            pids = ", ".join(map(str, holders))
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
