"""Names that become paths: ids checked where they are read, and the folders they name.

A run folder lives in shared storage and is filled from files many people edit, so nothing read
from a file may decide where a write goes without being checked here first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import RunFolderError

ID = r"[a-z0-9][a-z0-9-]{0,99}"  # the one spelling of a scenario, persona or role id (a slug)
NAME = re.compile(rf"^{ID}$")
JOB_ID = re.compile(rf"^{ID}-[0-9a-f]{{8}}$")  # <scenario>-<content hash>


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
