"""The supervisor: fills a run folder with `--concurrency` runner processes (runner.py).

It gives every job a hard deadline, kills and replaces a runner that hangs or dies, retries
transient failures with backoff, stops early past `--max-failure-rate`, and on SIGINT/SIGTERM
stops at once. A conversation folder is complete the moment it exists under its id (it is
written under a temporary name and renamed), so a run killed at any point can be resumed: the
complete folders are kept byte for byte and everything else is redone.

Over 300 lines because the runner pool and the rooms' admission queue share one loop over the
runners' pipes: a queue apart from the pool would have to mirror every runner's life.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess

from .config import LIBRARY_FOLDERS, RunConfig
from .errors import RunFolderError
from .job import Job
from .runfolder import (
    DISK_ERRORS,
    IndexLine,
    RunLog,
    completed,
    disk_problem,
    now,
    read_run_info,
    tmp_dir,
    versions,
    write_error,
    write_index,
    write_run_info,
)
from .runner import Order, Ready, runner_main
from .transport.admission import Admit


@dataclass
class _Runner:
    """One runner process, as the supervisor sees it."""

    proc: SpawnProcess
    conn: Connection
    ready: bool = False
    job: Job | None = None
    attempt: int = 0
    deadline: float = 0.0
    in_call: bool = False  # its room's agents were accepted (LiveKit): the call is on


@dataclass
class Outcome:
    results: dict[str, IndexLine]
    stopped: str | None = None  # why the run ended before every job finished
    signal: int | None = None


class _Interrupted(Exception):
    pass


class _Halt(Exception):
    """The run cannot go on (the disk refuses writes): stop as an interrupted run does."""


ADMISSION_LIMIT_S = 120.0  # a room no worker took, while none of the run's calls runs, fails after this


class _Admissions:
    """The run's queue of rooms waiting for agent workers (transport/admission.py): one room
    asks at a time, first come first served. A room's deadline starts once it was admitted."""

    def __init__(self, hard_limit: float, log: RunLog, on_status: Callable[[str], None]) -> None:
        self.hard_limit, self.log, self.on_status = hard_limit, log, on_status
        self.asking: deque[_Runner] = deque()
        self.holder: _Runner | None = None
        self.since = 0.0  # when the holder got its turn, or later a call of the run started or ended
        self.shown = 0  # rooms waiting, as last shown (0: nobody waits)

    def handle(self, w: _Runner, kind: str, t: float) -> None:
        if kind == "ask":
            w.deadline = math.inf  # waiting for a worker is not the call
            self.asking.append(w)
        elif kind == "waiting" and w is self.holder:
            self._show(len(self.asking) + 1)
        elif kind == "admitted" and w is self.holder:
            self.holder, w.in_call, w.deadline, self.since = None, True, t + self.hard_limit, t

    def gone(self, w: _Runner, t: float) -> None:
        """`w`'s job ended (or its process did): it holds no turn and waits for none."""
        if w in self.asking:
            self.asking.remove(w)
        if w is self.holder:
            self.holder = None
        if w.in_call:
            self.since = t  # a call ended: its agents' room is free
        w.in_call = False

    def step(self, runners: list[_Runner], t: float) -> None:
        """Hand the turn on; give up on a holder no worker took for too long (while calls of
        this run go on, until none has ended for a job's whole time limit)."""
        while self.holder is None and self.asking:
            w = self.asking.popleft()
            if w.job is not None and w.proc.is_alive():
                self.holder, self.since = w, t
                w.conn.send(Admit("go"))
        if self.holder is None:
            self._show(0)
            return
        limit = self.hard_limit if any(r.in_call for r in runners) else ADMISSION_LIMIT_S
        if t - self.since > limit:
            self.holder.conn.send(Admit("give-up"))
            self.since = t  # it fails its job and passes the turn on

    def _show(self, n: int) -> None:
        if n != self.shown:
            self.shown = n
            text = f"waiting for an agent worker: {n} conversation{'s' if n > 1 else ''} queued" if n else ""
            if n:
                self.log(text)
            self.on_status(text)


def execute(  # noqa: C901, PLR0912, PLR0915
    config: RunConfig,
    jobs: list[Job],
    *,
    log: RunLog,
    done: dict[str, IndexLine] | None = None,
    on_result: Callable[[IndexLine], None] = lambda r: None,
    target: Callable[..., None] = runner_main,
    on_status: Callable[[str], None] = lambda s: None,
) -> Outcome:
    """Run every job not in `done` into `config.out`; conversations.jsonl is kept current throughout.
    `target` is each runner process's main (runner.runner_main; tests give a fake). `on_status`
    is told what the run waits for ("" once it waits no more)."""
    out = config.out
    assert out is not None
    results = dict(done or {})
    ctx = get_context("spawn")  # the livekit FFI runtime must not be forked
    queue: deque[tuple[Job, int, float]] = deque((j, 1, 0.0) for j in jobs if j.id not in results)
    for j, _, _ in queue:  # leftovers of an interrupted attempt
        shutil.rmtree(tmp_dir(out, j.id), ignore_errors=True)
    hard_limit = config.job_timeout * 1.2 + 5  # the job's own asyncio limit fires first
    outcome = Outcome(results=results)
    admissions = _Admissions(hard_limit, log, on_status)
    received: list[int] = []
    halted = False  # the disk refused a write: stop at once, as on a signal

    def on_signal(signum, _frame) -> None:  # noqa: ANN001
        received.append(signum)
        raise _Interrupted

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def spawn() -> _Runner:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=target, daemon=True, args=(child, config, os.getpid()))
        proc.start()
        child.close()
        return _Runner(proc=proc, conn=parent)

    runners: list[_Runner] = []
    failures = sum(not r.ok for r in results.values())

    def finish(w: _Runner, r: IndexLine) -> None:
        nonlocal failures
        job, attempt = w.job, w.attempt
        assert job is not None, "a result came from a runner with no job"
        w.job = None
        admissions.gone(w, time.monotonic())
        if r.disk:  # the job is not failed: the run stops, and --resume redoes it
            raise _Halt(f"stopped: {r.disk}")
        if not r.ok and r.transient and attempt <= config.retries:
            delay = min(30.0, 2.0 ** (attempt - 1))
            log(f"retry {job.id} in {delay:g} s (attempt {attempt + 1}): {r.error}")
            queue.append((job, attempt + 1, time.monotonic() + delay))
            return
        results[job.id] = r
        log(f"ok {job.id} {r.duration_s} s {r.turns} turns" if r.ok else f"failed {job.id}: {r.error}")
        write_index(out, jobs, results, final=False)
        on_result(r)
        if not r.ok:
            failures += 1
            if failures > config.max_failure_rate * len(jobs) and outcome.stopped is None:
                outcome.stopped = (f"stopped early: {failures} of {len(jobs)} failed, more than "
                                   f"--max-failure-rate {config.max_failure_rate:g} allows")
                log(outcome.stopped)
                queue.clear()

    try:
        runners = [spawn() for _ in range(min(config.concurrency, len(queue)))]
        while queue or any(w.job for w in runners):
            t = time.monotonic()
            for w in runners:
                if w.ready and w.job is None and queue:
                    ready = [q for q in queue if q[2] <= t]
                    if not ready:
                        break
                    queue.remove(ready[0])
                    w.job, w.attempt, _ = ready[0]
                    w.deadline = t + hard_limit
                    log(f"start {w.job.id} (attempt {w.attempt})")
                    w.conn.send(Order(w.job))
            wait([w.conn for w in runners] + [w.proc.sentinel for w in runners], timeout=0.2)
            t = time.monotonic()
            for i, w in enumerate(runners):
                msg = None
                try:
                    if w.conn.poll():
                        msg = w.conn.recv()
                except (EOFError, OSError):
                    pass
                if isinstance(msg, Ready):
                    w.ready = True
                elif isinstance(msg, Admit):
                    if w.job is not None:
                        admissions.handle(w, msg.kind, t)
                elif msg is not None and w.job is not None:
                    finish(w, msg)
                elif not w.proc.is_alive() or (w.job is not None and t > w.deadline):
                    if w.proc.is_alive():
                        w.proc.kill()
                        error = (f"killed after {hard_limit:g} s without finishing "
                                 f"(--job-timeout {config.job_timeout:g})")
                    else:
                        error = f"runner process died (exit code {w.proc.exitcode})"
                    w.proc.join(5)
                    admissions.gone(w, t)
                    if not w.ready:  # it never got as far as taking a job: retrying won't help
                        raise RuntimeError(f"runner process could not start (exit code {w.proc.exitcode})")
                    job = w.job
                    if job is not None:
                        write_error(out, job.id, error)
                        finish(w, IndexLine.failed(job, error, transient=True))
                    runners[i] = spawn() if (queue or any(x.job for x in runners)) else w
            admissions.step(runners, t)
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
        for w in runners:
            if not at_once and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        for w in runners:
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


def run(config: RunConfig, jobs: list[Job], *, resume: bool,
        on_result: Callable[[IndexLine], None] = lambda r: None,
        on_status: Callable[[str], None] = lambda s: None) -> Outcome:
    """Start (or resume) the run in `config.out`: run.json, run.log, the jobs, the final counts."""
    out = config.out
    assert out is not None
    (out / "conversations").mkdir(parents=True, exist_ok=True)
    log = RunLog(out)
    if resume:
        info = read_run_info(out)
        info["resumed_at"] = [*info.get("resumed_at", []), now()]
        done = completed(out, jobs)
        log(f"resumed: {len(done)} of {len(jobs)} conversations already complete")
    else:
        info = {"flags": config.recorded(), "seed": config.seed, "count": config.count,
                "machine_local": list(LIBRARY_FOLDERS), "versions": versions(), "started_at": now(),
                "ended_at": None, "jobs": [j.to_dict() for j in jobs]}
        done = {}
        log(f"started: {len(jobs)} conversations planned")
    info["ended_at"] = None
    try:
        write_run_info(out, info)
    except OSError as e:
        raise RunFolderError(f"{out}: cannot write run.json ({disk_problem(e)})") from None
    try:
        outcome = execute(config, jobs, log=log, done=done, on_result=on_result, on_status=on_status)
    except RuntimeError as e:
        write_index(out, jobs, done, final=True)
        stopped = str(e)
        outcome = Outcome(results=done, stopped=stopped)
        log(stopped)
    ok = sum(r.ok for r in outcome.results.values())
    info.update(ended_at=now(), counts={"planned": len(jobs), "ok": ok, "failed": len(jobs) - ok},
                stopped=outcome.stopped)
    try:
        write_run_info(out, info)
    except OSError as e:  # run.json keeps its last whole version (ended_at null): resume finishes it
        if e.errno not in DISK_ERRORS:
            raise
        outcome.stopped = outcome.stopped or f"stopped: {disk_problem(e)}"
    log(f"ended: {ok} ok, {len(jobs) - ok} failed" + (f" ({outcome.stopped})" if outcome.stopped else ""))
    return outcome
