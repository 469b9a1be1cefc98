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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import RunConfig
from .errors import LiveKitError, transient
from .job import Job
from .process import die_with_parent
from .runfolder import DISK_ERRORS, ConversationMeta, IndexLine, disk_problem, write_conversation, write_error
from .transport.admission import Admit
from .voices import shared_voice

if TYPE_CHECKING:
    from .engine.base import Engine
    from .job import ResolvedJob
    from .recording import Recording
    from .scenario import Library


@dataclass(frozen=True)
class Ready:
    """Runner -> supervisor: loaded and waiting for a job (or unable to run any: `error`)."""

    error: str | None = None


@dataclass(frozen=True)
class Order:
    """Supervisor -> runner: run this job. A `None` order ends the runner."""

    job: Job


def run_job(job: Job, library: Library, engine: Engine, config: RunConfig, admission=None) -> IndexLine:  # noqa: ANN001
    """Run one job and write its folder; a failure comes back as a result, never raised."""
    from .transport import converse

    assert config.out is not None
    try:
        played = job.resolve(library, config.agents)
        rec = asyncio.run(converse(config, played, engine, admission))
        problem = rec.problem(played.scenario.turns.min)
        if problem:
            # a room's recording is what crossed the network: a text lost while a server's relay
            # broke (a node or Redis restarting) need not be lost again, so that one is transient
            raise (LiveKitError if config.transport == "livekit" else RuntimeError)(problem)
        meta = conversation_meta(played, engine, config.transport, rec)
        finish = None
        if config.impair:  # the impaired copies are part of the complete folder
            from .impair import impair_folder, parse

            chain = parse(list(config.impair))
            finish = lambda folder: {"impaired": impair_folder(folder, chain, job.seed, list(job.roles))}  # noqa: E731
        write_conversation(config.out, job.id, rec, meta, finish)
        return IndexLine.for_job(job, "ok", duration_s=round(rec.duration, 3),
                                          turns=sum(t.kind == "turn" for t in rec.turns))
    except Exception as e:  # noqa: BLE001 - one job's failure must not stop the batch
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:  # not the job's fault: the run stops
            return IndexLine.for_job(job, "failed", disk=disk_problem(e))
        result = IndexLine.failed(job, f"{type(e).__name__}: {e}".strip().splitlines()[0], transient(e))
        try:
            write_error(config.out, job.id, traceback.format_exc())
        except OSError as e2:
            if e2.errno not in DISK_ERRORS:
                raise
            result.disk = disk_problem(e2)
        return result


def conversation_meta(played: ResolvedJob, engine: Engine, transport: str, rec: Recording) -> dict:
    """meta.json of a finished conversation, whole (docs/FORMAT.md; `impaired` is added by the
    impairments written with it). Sets every turn's `wer` on the way."""
    from dataclasses import asdict

    from .runfolder.labels import turn_taking

    scenario = played.scenario
    voices = {r: engine.voice(p) for r, p in played.personas.items()}
    timed = [t.words is not None for t in rec.turns if t.kind == "turn"]
    meta = {
        "id": played.job.id,
        "scenario": {k: getattr(scenario, k) for k in ("id", "title", "domain", "language")},
        "branch": played.branch and {"id": played.branch.id, "title": played.branch.title},
        "outcome": scenario.outcome,
        "personas": {r: p.model_dump() for r, p in played.personas.items()},
        "engine": engine.name,
        "transport": transport,
        "voices": voices,
        **shared_voice(voices),
        **engine.notes(scenario),
        "seed": played.job.seed,
        "word_timing": "engine" if all(timed) else ("partial" if any(timed) else None),
        "labels": turn_taking([asdict(t) for t in rec.turns], rec.tracks, rec.sample_rate),
        "facts": played.facts,  # what each role knew: amounts, ids, dates
        "wer": rec.label_errors(),
        **rec.notes,
        "timing": rec.timing,
        "sample_rate": rec.sample_rate,
        "duration_s": round(rec.duration, 3),
        "turns": sum(t.kind == "turn" for t in rec.turns),
    }
    ConversationMeta.from_dict(meta)  # a record the readers cannot read is never written
    return meta


def runner_main(conn, config: RunConfig, parent: int) -> None:  # noqa: ANN001 - a multiprocessing Connection
    """Serve the supervisor's orders over `conn` until it sends None."""
    die_with_parent()
    if os.getppid() != parent:  # it died before we asked
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides how to stop
    logging.getLogger("livekit").setLevel(logging.CRITICAL)
    from .engine import make_engine
    from .scenario import load_library
    from .transport.admission import PipeAdmission

    library = engine = error = None
    try:
        library = load_library(config.scenarios_dir, config.personas_dir)
        engine = make_engine(config.engine_spec)
        if config.transport != "livekit":  # in rooms the agents load the models, in their workers
            engine.warm_up()
    except Exception as e:  # noqa: BLE001 - reported with every job instead
        error = f"runner could not start: {type(e).__name__}: {e}"
    conn.send(Ready(error))
    while True:
        order: Order | None = conn.recv()
        if order is None:
            return
        if isinstance(order, Admit):  # a turn handed out as a job ended: nobody asks for it any more
            continue
        if library is None or engine is None:
            conn.send(IndexLine.failed(order.job, error or "runner could not start"))
            continue
        # rooms queue for agent workers through the supervisor (transport/admission.py)
        admission = PipeAdmission(conn) if config.transport == "livekit" else None
        conn.send(run_job(order.job, library, engine, config, admission))
