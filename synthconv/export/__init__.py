"""Exports: a run folder turned into what ML people load without glue (`synthconv export`).

source.py reads the whole conversations, splits.py assigns train/dev/test, formats.py and
lhotse.py write each format, card.py the dataset card and checksums.

An export is all or nothing: it is written into a hidden folder next to `--out` and renamed into
place at the end, so a kill or a full disk leaves no partial export (and nothing that blocks the
retry). The run is read under a shared run lock: no `generate` or `impair` may write it meanwhile.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import RunFolderError
from ..runfolder import DISK_ERRORS, RunLock
from .card import write_card, write_checksums
from .formats import caller_and_agent, segment_id, write_audio, write_hf, write_nemo, write_rttm, write_stereo
from .lhotse import write_lhotse
from .options import ExportOptions
from .source import complete_conversations
from .splits import assign


@dataclass
class ExportSummary:
    conversations: int
    splits: dict[str, int]  # split -> conversations
    files: int
    warnings: list[str]
    skipped: list[str]  # "<id>: <why>" for each conversation left out




def export(run: Path, out: Path, options: ExportOptions) -> ExportSummary:
    """Write the formats of the run's whole conversations into `out` (new, or an empty folder)."""
    run, out = Path(run), Path(out)
    shares = options.check()
    if out.resolve() == run.resolve() or run.resolve() in out.resolve().parents:
        raise ValueError(f"--out: {out} is inside the run {run}; choose a folder outside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(f"--out: {out} is not an empty folder; choose a new one")
    with RunLock(run, shared=True):
        info, conversations, skipped = complete_conversations(run, options.audio)
        if "stereo" in options.formats:
            conversations = _with_an_agent(conversations, options.agent_roles, skipped)
        splits = assign(conversations, shares, options.split_by)
        tmp = _scratch(out)
        try:
            _write(tmp, run, info, conversations, splits, shares, options, skipped)
            files = write_checksums(tmp)
            _publish(tmp, out)
        except OSError as e:
            if e.errno in DISK_ERRORS:
                raise RunFolderError(f"--out: cannot write the export to {out} ({(e.strerror or str(e)).lower()}); "
                                     "nothing was left there") from None
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[str, int] = {}
    for s in splits.values():
        counts[s] = counts.get(s, 0) + 1
    warnings = [f"--split: {name} is empty: the {len(conversations)} conversations fall into too few "
                f"{options.split_by} groups for {options.split} (try --split-by scenario or conversation, or a larger run)"
                for name in shares if name not in counts]
    if info.get("ended_at") is None:
        warnings.append(f"{run} did not finish (run.json ended_at is null): only its complete conversations are "
                        f"exported; `synthconv generate --resume {run}` finishes it")
    return ExportSummary(conversations=len(conversations), splits=counts, files=files, warnings=warnings,
                         skipped=skipped)


def _with_an_agent(conversations: list, agent_roles: tuple[str, ...], skipped: list[str]) -> list:
    """The conversations stereo can put the agent of on the right (the others join `skipped`)."""
    kept = []
    for c in conversations:
        try:
            caller_and_agent(c, list(agent_roles))
            kept.append(c)
        except ValueError as e:
            skipped.append(f"{c.id}: -f stereo: {e}")
    if not kept:
        raise ValueError(f"--agent-role: {skipped[-1]}")
    return kept


def _publish(tmp: Path, out: Path) -> None:
    """The finished export renamed into place: over an empty folder, never over a filled one."""
    try:
        os.rename(tmp, out)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise
        raise RunFolderError(f"--out: {out} is not an empty folder; choose a new one") from None


def _scratch(out: Path) -> Path:
    """The hidden folder next to `out` the export is written into; one left by an export that was
    killed (its process is gone) is removed first."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(f".{glob.escape(out.name)}.export-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)) and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write(out: Path, run: Path, info: dict, conversations: list, splits: dict[str, str], shares: dict[str, float],
           options: ExportOptions, skipped: list[str]) -> None:
    formats = options.formats
    scratch = out / ".scratch"  # hf's mixes and turn slices: on the export's disk, gone before SHA256SUMS
    layout = bool({"nemo", "lhotse"} & set(formats))  # audio/<split>/<id>/ shipped
    audio = write_audio(out if layout else scratch, conversations, splits, copy_tracks=layout) \
        if layout or "hf" in formats else {}
    if "hf" in formats:
        write_hf(out, conversations, splits, audio, scratch)
    rttm = write_rttm(out, conversations) if {"rttm", "nemo"} & set(formats) else {}
    if "nemo" in formats:
        write_nemo(out, conversations, splits, audio, rttm)
    if "lhotse" in formats:
        write_lhotse(out, conversations, splits, audio, segment_id)
    if "stereo" in formats:
        write_stereo(out, conversations, splits, list(options.agent_roles), _version())
    shutil.rmtree(scratch, ignore_errors=True)
    write_card(out, run, info, conversations, splits, list(formats), options, shares, skipped)


def _version() -> str:
    try:
        return metadata.version("synthconv")
    except metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["ExportOptions", "ExportSummary", "export"]
