"""The worker process: loads the library and engine once, then runs jobs one at a time.

A job never raises out of `run_job`: whatever goes wrong comes back as a failed result, with
`transient` set when trying again might help (time-outs, dropped connections, rate limits).
The supervisor in run.py kills and replaces a worker that hangs or dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import traceback
from pathlib import Path

from .errors import transient
from .job import Job
from .runfolder import DISK_ERRORS, conversation_dir, disk_problem


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere a no-op).

    A supervisor killed with SIGKILL cannot stop its workers, and a worker left running would go
    on writing into a run that nobody supervises, or that a `--resume` has taken over.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def check_recording(rec, min_turns: int) -> str | None:  # noqa: ANN001
    """Why a finished recording is not a usable conversation, or None."""
    roles = {t.role for t in rec.turns}
    if len(roles) < 2:
        import numpy as np

        from .inspect import SILENT

        speech = ", ".join(f"{r} track {(np.abs(p.astype(np.int32)) > SILENT).sum() / rec.sample_rate:.1f} s of speech"
                           for r, p in rec.tracks.items())
        return f"only {sorted(roles)} spoke ({speech})"
    silent = [t.turn for t in rec.turns if not t.text]
    if silent:
        return f"turns {silent} have no transcript"
    if len(rec.turns) < min_turns:
        return f"{len(rec.turns)} turns, fewer than the scenario's minimum {min_turns}"
    return None


def run_job(job: Job, library, engine, out_dir: Path, transport: str, job_timeout: float,  # noqa: ANN001
            options: dict | None = None) -> dict:
    """Run one job and write its folder; a failure comes back as a result, never raised."""
    from .recorder import write_conversation
    from .transport import converse

    result = {"id": job.id, "status": "failed", "scenario": job.scenario, "roles": job.roles,
              "duration_s": None, "turns": None, "error": None}
    final = conversation_dir(out_dir, job.id)
    tmp = final.with_name(f".tmp-{job.id}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        rec = asyncio.run(converse(transport, job, library, engine, timeout=job_timeout, options=options))
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
        os.replace(tmp, final)  # the folder appears under its id only when complete
        result.update(status="ok", duration_s=round(rec.duration, 3), turns=len(rec.turns))
    except Exception as e:  # noqa: BLE001 - one job's failure must not stop the batch
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:  # not the job's fault: the run stops
            return {**result, "disk": disk_problem(e)}
        result["error"] = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        result["transient"] = transient(e)
        shutil.rmtree(final, ignore_errors=True)
        try:
            final.mkdir(parents=True, exist_ok=True)
            (final / "error.txt").write_text(traceback.format_exc())
        except OSError as e2:
            if e2.errno not in DISK_ERRORS:
                raise
            return {**result, "disk": disk_problem(e2)}
    return result


def worker_main(conn, scenarios_dir: str, personas_dir: str, engine_name: str, parent: int) -> None:  # noqa: ANN001
    """Serve jobs from the supervisor over `conn` until it sends None."""
    die_with_parent()
    if os.getppid() != parent:  # it died before we asked
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides how to stop
    logging.getLogger("livekit").setLevel(logging.CRITICAL)
    from .engine import make_engine
    from .scenario import load_library

    library = engine = make_engine_error = None
    try:
        library = load_library(Path(scenarios_dir), Path(personas_dir))
        engine = make_engine(engine_name)
        engine.warm_up()
    except Exception as e:  # noqa: BLE001 - reported with every job instead
        make_engine_error = f"worker could not start: {type(e).__name__}: {e}"
    conn.send({"ready": True})
    while True:
        msg = conn.recv()
        if msg is None:
            return
        job = Job.from_dict(msg["job"])
        if make_engine_error:
            conn.send({"id": job.id, "status": "failed", "scenario": job.scenario, "roles": job.roles,
                       "duration_s": None, "turns": None, "error": make_engine_error})
            continue
        options = {"engine": engine_name, "scenarios_dir": scenarios_dir, "personas_dir": personas_dir}
        conn.send(run_job(job, library, engine, Path(msg["out"]), msg["transport"], msg["job_timeout"], options))
