"""A runner process: loads the library and engine once, then runs the supervisor's jobs one at a time.

A job never raises out of `run_job`: whatever goes wrong comes back as a failed result, with
`transient` set when trying again might help (time-outs, dropped connections, rate limits).
The supervisor kills and replaces a runner that hangs or dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import traceback
from pathlib import Path

from .errors import transient
from .job import Job
from .runfolder import DISK_ERRORS, ConversationResult, disk_problem, write_conversation, write_error
from .scenario import draw_facts


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere a no-op).

    A supervisor killed with SIGKILL cannot stop its runners, and a runner left running would go
    on writing into a run that nobody supervises, or that a `--resume` has taken over.
    """
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def run_job(job: Job, library, engine, out_dir: Path, transport: str, job_timeout: float,  # noqa: ANN001
            options: dict | None = None, impair: list[str] | None = None, admission=None) -> ConversationResult:  # noqa: ANN001
    """Run one job and write its folder; a failure comes back as a result, never raised."""
    from .transport import converse

    try:
        rec = asyncio.run(converse(transport, job, library, engine, timeout=job_timeout, options=options,
                                   admission=admission))
        scenario, branch = job.played(library), job.branch(library)
        problem = rec.problem(scenario.turns.min)
        if problem:
            raise RuntimeError(problem)
        personas = job.cast(library)
        meta = {
            "id": job.id,
            "scenario": {k: getattr(scenario, k) for k in ("id", "title", "domain", "language")},
            "branch": branch and {"id": branch.id, "title": branch.title},
            "outcome": scenario.outcome,
            "personas": {r: p.model_dump() for r, p in personas.items()},
            "engine": engine.name,
            "transport": transport,
            "voices": {r: engine.voice(p) for r, p in personas.items()},
            **engine.notes(scenario),
            "seed": job.seed,
            **labels_of(rec),
            "facts": draw_facts(scenario, job.seed),  # what each role knew: amounts, ids, dates
            "wer": rec.label_errors(),
        }
        finish = None
        if impair:  # checked by generate; the impaired copies are part of the complete folder
            from .impair import impair_folder, parse

            chain = parse(impair)
            finish = lambda folder: {"impaired": impair_folder(folder, chain, job.seed, list(job.roles))}  # noqa: E731
        write_conversation(out_dir, job.id, rec, meta, finish)
        return ConversationResult.for_job(job, "ok", duration_s=round(rec.duration, 3),
                                          turns=sum(t.kind == "turn" for t in rec.turns))
    except Exception as e:  # noqa: BLE001 - one job's failure must not stop the batch
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:  # not the job's fault: the run stops
            return ConversationResult.for_job(job, "failed", disk=disk_problem(e))
        result = ConversationResult.failed(job, f"{type(e).__name__}: {e}".strip().splitlines()[0], transient(e))
        try:
            write_error(out_dir, job.id, traceback.format_exc())
        except OSError as e2:
            if e2.errno not in DISK_ERRORS:
                raise
            result.disk = disk_problem(e2)
        return result


def labels_of(rec) -> dict:  # noqa: ANN001 - a recorder.Recording
    """meta.json's word-timing note and turn-taking `labels`, computed from the recording."""
    from dataclasses import asdict

    from .labels import turn_taking

    timed = [t.words is not None for t in rec.turns if t.kind == "turn"]
    return {
        "word_timing": "engine" if all(timed) else ("partial" if any(timed) else None),
        "labels": turn_taking([asdict(t) for t in rec.turns], rec.tracks, rec.sample_rate),
    }


def runner_main(conn, scenarios_dir: str, personas_dir: str, engine_name: str, parent: int,  # noqa: ANN001
                hearing: str | None = None, warm: bool = True) -> None:
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
        engine = make_engine(engine_name, hearing)
        if warm:  # rooms: the agents load the models, in their workers' job processes
            engine.warm_up()
    except Exception as e:  # noqa: BLE001 - reported with every job instead
        make_engine_error = f"runner could not start: {type(e).__name__}: {e}"
    conn.send({"ready": True})
    while True:
        msg = conn.recv()
        if msg is None:
            return
        if "admission" in msg:  # a turn handed out as a job ended: nobody asks for it any more
            continue
        job = Job.from_dict(msg["job"])
        if make_engine_error:
            conn.send(ConversationResult.failed(job, make_engine_error))
            continue
        options = {"engine": engine_name, "scenarios_dir": scenarios_dir, "personas_dir": personas_dir,
                   "turn_taking": msg.get("turn_taking", "natural")}
        admission = None
        if msg["transport"] == "livekit":  # rooms queue for agent workers through the supervisor
            from .transport.admission import PipeAdmission

            admission = PipeAdmission(conn)
        conn.send(run_job(job, library, engine, Path(msg["out"]), msg["transport"], msg["job_timeout"], options,
                          msg.get("impair"), admission))
