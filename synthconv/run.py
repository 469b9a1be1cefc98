"""The run folder and the supervisor that fills it.

`--concurrency` worker processes (worker.py) run one job each at a time. The supervisor gives
every job a hard deadline, kills and replaces a worker that hangs or dies, retries transient
failures with backoff, stops early past `--max-failure-rate`, and on SIGINT/SIGTERM stops at
once. A conversation folder is complete the moment it exists under its id (worker.py writes it
under a temporary name and renames it), so a run killed at any point can be resumed: the
complete folders are kept byte for byte and everything else is redone.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path

from .job import Job
from .runfolder import DISK_ERRORS, RunFolderError, conversation_dir, disk_problem

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


def replace_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it; removed on failure)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict) -> None:
    replace_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def failed(job: Job, error: str, transient: bool = False) -> dict:
    return {"id": job.id, "status": "failed", "scenario": job.scenario, "roles": job.roles,
            "duration_s": None, "turns": None, "error": error, "transient": transient}


def public(result: dict) -> dict:
    """A result as conversations.jsonl stores it."""
    return {k: result.get(k) for k in ("id", "status", "scenario", "roles", "duration_s", "turns", "error")}


def write_index(out: Path, jobs: list[Job], results: dict[str, dict], *, final: bool) -> None:
    """conversations.jsonl in plan order: the finished jobs while running, every job at the end."""
    lines = [json.dumps(public(results.get(job.id) or failed(job, "not run")), ensure_ascii=False) + "\n"
             for job in jobs if final or job.id in results]
    replace_atomic(out / "conversations.jsonl", "".join(lines))


def completed(out: Path, jobs: list[Job]) -> dict[str, dict]:
    """Results of the jobs whose folders are complete (the resume point of a run)."""
    done = {}
    for job in jobs:
        meta_path = conversation_dir(out, job.id) / "meta.json"
        try:
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
            meta["duration_s"], meta["turns"]  # noqa: B018 - a damaged meta.json is an incomplete folder
        except (OSError, ValueError, KeyError, TypeError):
            continue  # missing or damaged: redone, its folder replaced whole
        else:
            done[job.id] = {"id": job.id, "status": "ok", "scenario": job.scenario, "roles": job.roles,
                            "duration_s": meta["duration_s"], "turns": meta["turns"], "error": None}
    return done


class RunLog:
    """RUN/run.log: one timestamped line per event. Never given secrets: flags and ids only.

    Opened for each line (they are few), so the run holds no file open for writing between events.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(f"{now()} {message}\n")
        except OSError as e:  # a full or read-only disk: the writes that matter report it
            if e.errno not in DISK_ERRORS:
                raise


@dataclass
class Settings:
    scenarios_dir: Path
    personas_dir: Path
    engine: str
    transport: str
    concurrency: int
    job_timeout: float
    retries: int
    max_failure_rate: float


@dataclass
class _Worker:
    proc: object
    conn: object
    ready: bool = False
    job: Job | None = None
    attempt: int = 0
    deadline: float = 0.0


@dataclass
class Outcome:
    results: dict[str, dict]
    stopped: str | None = None  # why the run ended before every job finished
    signal: int | None = None
    retried: int = 0


class _Interrupted(Exception):
    pass


class _Halt(Exception):
    """The run cannot go on (the disk refuses writes): stop as an interrupted run does."""


def execute(
    out: Path,
    jobs: list[Job],
    settings: Settings,
    *,
    log: RunLog,
    done: dict[str, dict] | None = None,
    on_result: Callable[[dict], None] = lambda r: None,
) -> Outcome:
    """Run every job not in `done` into `out`; conversations.jsonl is kept current throughout."""
    results = dict(done or {})
    ctx = get_context("spawn")  # the livekit FFI runtime must not be forked
    queue: deque[tuple[Job, int, float]] = deque((j, 1, 0.0) for j in jobs if j.id not in results)
    for j, _, _ in queue:  # leftovers of an interrupted attempt
        shutil.rmtree(_tmp_dir(out, j), ignore_errors=True)
    hard_limit = settings.job_timeout * 1.2 + 5  # the job's own asyncio limit fires first
    outcome = Outcome(results=results)
    received: list[int] = []
    halted = False  # the disk refused a write: stop at once, as on a signal

    def on_signal(signum, _frame) -> None:  # noqa: ANN001
        received.append(signum)
        raise _Interrupted

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def spawn() -> _Worker:
        parent, child = ctx.Pipe()
        from .worker import worker_main

        proc = ctx.Process(target=worker_main, daemon=True, args=(
            child, str(settings.scenarios_dir), str(settings.personas_dir), settings.engine, os.getpid()))
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent)

    workers: list[_Worker] = []
    failures = sum(r["status"] != "ok" for r in results.values())

    def finish(w: _Worker, r: dict) -> None:
        nonlocal failures
        job, attempt = w.job, w.attempt
        w.job = None
        if r.get("disk"):  # the job is not failed: the run stops, and --resume redoes it
            raise _Halt(f"stopped: {r['disk']}")
        if r["status"] != "ok" and r.get("transient") and attempt <= settings.retries:
            delay = min(30.0, 2.0 ** (attempt - 1))
            log(f"retry {job.id} in {delay:g} s (attempt {attempt + 1}): {r['error']}")
            outcome.retried += 1
            queue.append((job, attempt + 1, time.monotonic() + delay))
            return
        results[job.id] = r
        log(f"ok {job.id} {r['duration_s']} s {r['turns']} turns" if r["status"] == "ok"
            else f"failed {job.id}: {r['error']}")
        write_index(out, jobs, results, final=False)
        on_result(r)
        if r["status"] != "ok":
            failures += 1
            if failures > settings.max_failure_rate * len(jobs) and outcome.stopped is None:
                outcome.stopped = (f"stopped early: {failures} of {len(jobs)} failed, more than "
                                   f"--max-failure-rate {settings.max_failure_rate:g} allows")
                log(outcome.stopped)
                queue.clear()

    try:
        workers = [spawn() for _ in range(min(settings.concurrency, len(queue)))]
        while queue or any(w.job for w in workers):
            t = time.monotonic()
            for w in workers:
                if w.ready and w.job is None and queue:
                    ready = [q for q in queue if q[2] <= t]
                    if not ready:
                        break
                    queue.remove(ready[0])
                    w.job, w.attempt, _ = ready[0]
                    w.deadline = t + hard_limit
                    log(f"start {w.job.id} (attempt {w.attempt})")
                    w.conn.send({"job": w.job.to_dict(), "out": str(out), "transport": settings.transport,
                                 "job_timeout": settings.job_timeout})
            wait([w.conn for w in workers] + [w.proc.sentinel for w in workers], timeout=0.2)
            t = time.monotonic()
            for i, w in enumerate(workers):
                msg = None
                try:
                    if w.conn.poll():
                        msg = w.conn.recv()
                except (EOFError, OSError):
                    pass
                if msg is not None and msg.get("ready"):
                    w.ready = True
                elif msg is not None and w.job is not None:
                    finish(w, msg)
                elif not w.proc.is_alive() or (w.job is not None and t > w.deadline):
                    if w.proc.is_alive():
                        w.proc.kill()
                        error = (f"killed after {hard_limit:g} s without finishing "
                                 f"(--job-timeout {settings.job_timeout:g})")
                    else:
                        error = f"worker process died (exit code {w.proc.exitcode})"
                    w.proc.join(5)
                    if not w.ready:  # it never got as far as taking a job: retrying won't help
                        raise RuntimeError(f"worker process could not start (exit code {w.proc.exitcode})")
                    job = w.job
                    if job is not None:
                        folder = conversation_dir(out, job.id)
                        shutil.rmtree(_tmp_dir(out, job), ignore_errors=True)
                        shutil.rmtree(folder, ignore_errors=True)
                        folder.mkdir(parents=True, exist_ok=True)
                        (folder / "error.txt").write_text(error + "\n")
                        finish(w, failed(job, error, transient=True))
                    workers[i] = spawn() if (queue or any(x.job for x in workers)) else w
    except _Interrupted:
        outcome.signal = received[0]
        outcome.stopped = f"interrupted by {signal.Signals(received[0]).name}"
        log(outcome.stopped)
    except (_Halt, OSError) as e:
        if isinstance(e, OSError) and e.errno not in DISK_ERRORS:
            raise
        halted = True
        outcome.stopped = str(e) if isinstance(e, _Halt) else f"stopped: {disk_problem(e)}"
        log(outcome.stopped)
    finally:
        at_once = outcome.signal is not None or halted
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for w in workers:
            if not at_once and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in workers:
            w.proc.join(0 if at_once else 2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(5)
        if at_once:  # a job cut off mid-write leaves only a temporary folder (and frees its space)
            for p in (out / "conversations").glob(".tmp-*"):
                shutil.rmtree(p, ignore_errors=True)
        try:
            write_index(out, jobs, results, final=True)
        except OSError as e:
            if e.errno not in DISK_ERRORS:
                raise
            outcome.stopped = outcome.stopped or f"stopped: {disk_problem(e)}"
        for s, h in old.items():
            signal.signal(s, h)
    return outcome


def _tmp_dir(out: Path, job: Job) -> Path:
    """Where a worker writes a conversation before renaming it into place."""
    return conversation_dir(out, job.id).with_name(f".tmp-{job.id}")


def run(out: Path, jobs: list[Job], run_info: dict, settings: Settings, *, resume: bool,
        on_result: Callable[[dict], None] = lambda r: None) -> Outcome:
    """Start (or resume) the run in `out`: run.json, run.log, the jobs, the final counts."""
    (out / "conversations").mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "run.log")
    if resume:
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
        info["resumed_at"] = [*info.get("resumed_at", []), now()]
        done = completed(out, jobs)
        log(f"resumed: {len(done)} of {len(jobs)} conversations already complete")
    else:
        info = {**run_info, "versions": versions(), "started_at": now(), "ended_at": None,
                "jobs": [j.to_dict() for j in jobs]}
        done = {}
        log(f"started: {len(jobs)} conversations planned")
    info["ended_at"] = None
    try:
        write_json_atomic(out / "run.json", info)
    except OSError as e:
        raise RunFolderError(f"{out}: cannot write run.json ({disk_problem(e)})") from None
    try:
        outcome = execute(out, jobs, settings, log=log, done=done, on_result=on_result)
    except RuntimeError as e:
        write_index(out, jobs, done, final=True)
        outcome = Outcome(results=done, stopped=str(e))
        log(outcome.stopped)
    ok = sum(r["status"] == "ok" for r in outcome.results.values())
    info.update(ended_at=now(), counts={"planned": len(jobs), "ok": ok, "failed": len(jobs) - ok},
                stopped=outcome.stopped)
    try:
        write_json_atomic(out / "run.json", info)
    except OSError as e:  # run.json keeps its last whole version (ended_at null): resume finishes it
        if e.errno not in DISK_ERRORS:
            raise
        outcome.stopped = outcome.stopped or f"stopped: {disk_problem(e)}"
    log(f"ended: {ok} ok, {len(jobs) - ok} failed" + (f" ({outcome.stopped})" if outcome.stopped else ""))
    return outcome
