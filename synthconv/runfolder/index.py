"""RUN/conversations.jsonl: one `IndexLine` (schema.py) per planned conversation, in plan order.

The supervisor writes it (whole, atomically, after every finished job), `generate --resume`
and `inspect` read it back; what a line must hold is docs/FORMAT.md's "conversations.jsonl".
"""

from __future__ import annotations

import io
from pathlib import Path

import jsonlines

from .conversation import conversation_files, read_lines, read_meta
from .disk import replace_atomic
from .names import conversation_dir
from .schema import IndexLine, SchemaError


def write_index(run: Path, jobs: list, results: dict[str, IndexLine], *, final: bool) -> None:
    """conversations.jsonl in plan order: the finished jobs while running, every job at the end
    (a job never finished is written as failed, "not run")."""
    buf = io.StringIO()
    with jsonlines.Writer(buf) as w:
        for job in jobs:
            if final or job.id in results:
                w.write((results.get(job.id) or IndexLine.failed(job, "not run")).to_dict())
    replace_atomic(Path(run) / "conversations.jsonl", buf.getvalue())


def read_index(run: Path) -> list[tuple[int, IndexLine | str]]:
    """conversations.jsonl, line by line: each line's result, or what is wrong with that line."""
    out: list[tuple[int, IndexLine | str]] = []
    for n, d in read_lines(Path(run) / "conversations.jsonl"):
        if isinstance(d, jsonlines.InvalidLineError):
            out.append((n, f"not a JSON line ({d.__cause__ or d})"))
            continue
        try:
            out.append((n, IndexLine.from_dict(d)))
        except SchemaError as e:
            out.append((n, str(e)))
    return out


def completed(run: Path, jobs: list) -> dict[str, IndexLine]:
    """Results of the jobs whose folders are complete: the resume point of a run.

    A folder is complete when its meta.json is whole and every file it implies is there (folders
    appear only when complete); one with a file missing or a damaged meta.json is redone and
    replaced whole."""
    done = {}
    for job in jobs:
        folder = conversation_dir(run, job.id)
        meta = read_meta(folder)
        if (isinstance(meta, dict) and "duration_s" in meta and "turns" in meta
                and all((folder / f).is_file() for f in conversation_files(meta))):
            done[job.id] = IndexLine.for_job(job, "ok", duration_s=meta["duration_s"], turns=meta["turns"])
    return done
