"""The run folder: plan in, one folder per conversation out, as docs/FORMAT.md says.

Jobs run in worker processes (the `--concurrency` pool), each job in isolation: an exception
marks that job failed and the batch carries on. A conversation folder is written under a
temporary name and renamed into place once complete, so a folder under its own id is always
whole.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

from .job import Job

VERSIONED = ["synthconv", "livekit-agents", "livekit", "livekit-api", "livekit-plugins-silero",
             "espeakng-loader", "pydub", "imageio-ffmpeg"]


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


@dataclass
class Result:
    id: str
    status: str  # ok | failed
    scenario: str
    roles: dict[str, str]
    duration_s: float | None = None
    turns: int | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# --- inside a worker process -------------------------------------------------------------

_worker: dict = {}


def _init_worker(scenarios_dir: str, personas_dir: str, engine: str) -> None:
    import logging

    from .engine import make_engine
    from .scenario import load_library

    logging.getLogger("livekit").setLevel(logging.ERROR)
    logging.getLogger("livekit.agents").setLevel(logging.ERROR)
    _worker["library"] = load_library(Path(scenarios_dir), Path(personas_dir))
    _worker["engine"] = make_engine(engine)
    _worker["engine"].warm_up()


def run_job(job_dict: dict, out_dir: str, transport: str, job_timeout: float) -> dict:
    """Run one job and write its folder. Never raises: failures come back as a failed Result."""
    import asyncio

    from .recorder import write_conversation
    from .transport import converse

    job = Job.from_dict(job_dict)
    library, engine = _worker["library"], _worker["engine"]
    result = Result(id=job.id, status="failed", scenario=job.scenario, roles=job.roles)
    final = Path(out_dir) / "conversations" / job.id
    tmp = Path(out_dir) / "conversations" / f".tmp-{job.id}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rec = asyncio.run(converse(transport, job, library, engine, timeout=job_timeout))
        scenario = library.scenarios[job.scenario]
        problem = check_recording(rec, scenario.turns.min)
        if problem:
            raise RuntimeError(problem)
        personas = {r: library.personas[p] for r, p in job.roles.items()}
        meta = {
            "id": job.id,
            "scenario": {k: getattr(scenario, k) for k in ("id", "title", "domain", "language")},
            "personas": {r: p.model_dump() for r, p in personas.items()},
            "engine": engine.name,
            "transport": transport,
            "voices": {r: engine.voice(p) for r, p in personas.items()},
            "seed": job.seed,
        }
        write_conversation(tmp, rec, meta)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        result.status, result.duration_s, result.turns = "ok", round(rec.duration, 3), len(rec.turns)
    except Exception as e:  # noqa: BLE001 - one job's failure must not stop the batch
        result.error = f"{type(e).__name__}: {e}".strip()
        shutil.rmtree(tmp, ignore_errors=True)
        final.mkdir(parents=True, exist_ok=True)
        (final / "error.txt").write_text(traceback.format_exc())
    return result.to_dict()


def check_recording(rec, min_turns: int) -> str | None:  # noqa: ANN001
    """Why a finished recording is not a usable conversation, or None."""
    roles = {t.role for t in rec.turns}
    if len(roles) < 2:
        return f"only {sorted(roles)} spoke"
    silent = [t.turn for t in rec.turns if not t.text]
    if silent:
        return f"turns {silent} have no transcript"
    if len(rec.turns) < min_turns:
        return f"{len(rec.turns)} turns, fewer than the scenario's minimum {min_turns}"
    return None


# --- in the CLI process ------------------------------------------------------------------


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_index(out: Path, jobs: list[Job], results: dict[str, dict]) -> None:
    """conversations.jsonl: one line per planned job, in plan order."""
    tmp = out / "conversations.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for job in jobs:
            r = results.get(job.id) or Result(
                id=job.id, status="failed", scenario=job.scenario, roles=job.roles,
                error="not run",
            ).to_dict()
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, out / "conversations.jsonl")


def execute(
    out: Path,
    jobs: list[Job],
    run_info: dict,
    *,
    scenarios_dir: Path,
    personas_dir: Path,
    engine: str,
    transport: str,
    concurrency: int,
    job_timeout: float,
    on_start: Callable[[], None] = lambda: None,
    on_result: Callable[[dict], None] = lambda r: None,
) -> dict[str, dict]:
    """Run every job into `out` and write run.json and conversations.jsonl. Returns results by id."""
    (out / "conversations").mkdir(parents=True, exist_ok=True)
    run_info = {**run_info, "versions": versions(), "started_at": now(), "ended_at": None,
                "jobs": [j.to_dict() for j in jobs]}
    write_json_atomic(out / "run.json", run_info)
    results: dict[str, dict] = {}
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(concurrency, len(jobs))),
        mp_context=get_context("spawn"),  # the livekit FFI runtime must not be forked
        initializer=_init_worker,
        initargs=(str(scenarios_dir), str(personas_dir), engine),
    )
    try:
        on_start()
        futures = {pool.submit(run_job, j.to_dict(), str(out), transport, job_timeout): j for j in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - a worker process died
                r = Result(id=job.id, status="failed", scenario=job.scenario, roles=job.roles,
                           error=f"worker died: {type(e).__name__}: {e}").to_dict()
            results[job.id] = r
            on_result(r)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        write_index(out, jobs, results)
        counts = {"planned": len(jobs),
                  "ok": sum(r["status"] == "ok" for r in results.values()),
                  "failed": len(jobs) - sum(r["status"] == "ok" for r in results.values())}
        write_json_atomic(out / "run.json", {**run_info, "ended_at": now(), "counts": counts})
    return results

