"""The runs folder as serve reads it: each run's view (runfolder.view.read_run) and summary, kept in
memory and read again only when a file the view is made of changes.

Reading a run (runfolder/view.py) means run.json (its plan), conversations.jsonl and a look at every conversation
folder: 4 s for 20,000 conversations. Every request used to do that, audio range requests
included (a player makes dozens). A view is now keyed by what changes when a run does: the
inode, mtime and size of the run folder, run.json, conversations.jsonl and conversations/ (a
conversation appears by a rename into conversations/, conversations.jsonl is replaced whole).

Nothing here follows a symbolic link: a run folder that is a link is refused (its figures would
come from outside --runs), as are run.json, conversations.jsonl and conversations/ as links
(runfolder.view.read_run), and a conversation folder with a link inside it (runfolder.conversation_dir,
checked per request, since a conversation folder can change without its run's files changing).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RunFolderError
from ..runfolder.view import read_run
from ..summary import summarize

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # folder names such as 20261130-001200
PARTS = ("", "run.json", "conversations.jsonl", "conversations")  # what a view is read from
SETTLED_S = 2.0  # a view read within this long of a change to its files is not kept (see _key)


@dataclass
class View:
    key: tuple
    view: dict  # runfolder.view.read_run's
    rows: dict[str, dict]  # conversation id -> its row
    summary: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Runs:
    """The runs under `root`, by folder name; `keep` views at most (least recently used go)."""

    def __init__(self, root: Path, keep: int = 32) -> None:
        self.root, self.keep = Path(root), keep
        self._views: OrderedDict[str, View] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}

    def names(self) -> list[str]:
        """Folder names under the root that could be runs (links included: `view` refuses them)."""
        if not self.root.is_dir():
            return []
        return sorted((e.name for e in os.scandir(self.root) if RUN_ID.match(e.name)
                       and (e.is_symlink() or (e.is_dir() and os.path.isfile(os.path.join(e.path, "run.json"))))),
                      reverse=True)

    def folder(self, name: str) -> Path:
        """ROOT/name, refused unless it is a run folder name and a real folder inside the root."""
        if not RUN_ID.match(name):
            raise ValueError(f"{name!r} is not a run folder name")
        path = self.root / name
        if path.is_symlink():  # refused as a name is: it names something outside the runs folder
            raise ValueError(f"{name}: a symbolic link; serve does not follow links out of --runs")
        if not (path / "run.json").is_file():
            raise LookupError(f"no run {name!r} in {self.root}")
        return path

    def view(self, name: str) -> View:
        """The run's view, read again only when its files changed; ValueError for a name that is
        not a run's or a link, RunFolderError (a ValueError) for an unreadable run (a damaged
        run.json, a link inside), LookupError when there is no such run."""
        path = self.folder(name)
        with self._lock:
            reading = self._reading.setdefault(name, threading.Lock())
        with reading:  # one reader per run: six range requests at once read a changed run once
            key = _key(path)
            with self._lock:
                cached = self._views.get(name)
                if cached is not None and cached.key == key:
                    self._views.move_to_end(name)
                    return cached
            view = read_run(path)
            fresh = View(key, view, {r["id"]: r for r in view["conversations"]})
            if _changing(key):
                return fresh
            with self._lock:
                self._views[name] = fresh
                self._views.move_to_end(name)
                while len(self._views) > self.keep:
                    self._views.popitem(last=False)
            return fresh

    def summary(self, name: str) -> tuple[View, dict]:
        """The view and its summary (summary.summarize; it reads every complete conversation's transcript
        and meta.json, so it is made once per view)."""
        v = self.view(name)
        with v.lock:
            if v.summary is None:
                try:
                    v.summary = summarize(v.view)
                except Exception as e:  # noqa: BLE001 - damage the readers missed is the run's problem, not a 500
                    raise RunFolderError(f"{name}: cannot be summarized ({type(e).__name__}: {e})") from None
            return v, v.summary


def _key(path: Path) -> tuple:
    """(inode, mtime, size, links) of each file a view is read from. A folder's mtime moves when an
    entry is added, renamed or removed, and its link count when a subfolder comes or goes."""
    out: list[tuple[int, int, int, int] | None] = []
    for part in PARTS:
        try:
            st = os.lstat(path / part if part else path)
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_mtime_ns, st.st_size, st.st_nlink))
    return tuple(out)


def _changing(key: tuple) -> bool:
    """Whether a file changed within SETTLED_S: file times tick coarsely (a few ms), so a second
    change in the same tick would leave the key as it was; such a view is read again next time."""
    newest = max((k[1] for k in key if k is not None), default=0)
    return time.time_ns() - newest < SETTLED_S * 1e9
