"""The load a `synthconv worker` reports to livekit-server: how saturated its job processes are.

livekit-server offers a job only to a worker whose status is available, and a livekit-agents
worker marks itself full once its load reaches `load_threshold` (checked again on every job
offer, counting the jobs it has accepted but not started yet). A full worker's offers go to
other workers, and with none left the dispatch is dropped: `generate` then keeps the room
waiting for capacity (transport/livekit.py), so a saturated machine queues rooms instead of
starting rooms it cannot run in real time.

The load is the larger of two shares of the worker's cores, measured on its own process tree
(the job processes the forkserver starts; nothing else on the machine), and of the share of
`--max-jobs` in use when that is set:

- **CPU**: CPU seconds its job processes used over the last few seconds, per core. An agent
  that has just been accepted has not started talking yet, so each active job also counts at
  least the CPU an active job was seen to use (learned while jobs run, never below a prior):
  rooms accepted in a burst are counted before their CPU shows.
- **Waiting**: how long its threads, once runnable, waited for a core, on average each time
  they got one (/proc/PID/task/TID/schedstat). Rooms run in real time on 10-50 ms audio frames:
  when the machine is saturated (by these rooms or by anything else at the same priority) the
  waits grow towards a frame's length and the rooms fall behind; from `LATENCY_FULL_S` on the
  worker reports itself full. A niced background job hardly delays our threads, so it does
  not stop the worker, unlike livekit-agents' default load (the whole machine's CPU), which
  made a worker on a busy machine refuse every room.
"""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

PRIOR_CORES_PER_JOB = 0.06  # an offline agent in a room, measured (bench/livekit_rooms.py); learned upward
WINDOW_S = 3.0  # how far back the CPU and waiting shares look
LATENCY_FULL_S = 0.008  # mean wait for a core per time a thread got one, at which the worker is full


def cores() -> float:
    """The cores this process may run on (its affinity; a container's CPU quota if lower)."""
    n = float(len(os.sched_getaffinity(0)))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return max(n, 0.1)


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p))
    return kids


def descendants(root: int) -> list[int]:
    kids, found, todo = _children(), [], []
    todo = list(kids.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += kids.get(pid, [])
    return found


def schedstat(pid: int) -> tuple[float, float, int] | None:
    """(seconds on a core, seconds runnable but waiting for one, times it got a core), summed
    over `pid`'s threads."""
    run = wait = slices = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            r, w, n = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        run, wait, slices = run + int(r), wait + int(w), slices + int(n)
    return run / 1e9, wait / 1e9, slices


class WorkerLoad:
    """`load_fnc` of an AgentServer: called with the pids of the processes running jobs, it
    returns the load (1.0: every core this worker may use, or a saturated machine)."""

    def __init__(self, root: int | None = None, cores_: float | None = None,
                 prior: float = PRIOR_CORES_PER_JOB, max_jobs: int | None = None) -> None:
        self.root = root or os.getpid()
        self.max_jobs = max_jobs  # a cap on agents at once whatever the CPU says (memory, a quota)
        self.cores = cores_ or cores()
        self.prior = prior
        self.per_job = prior  # learned: cores an active job uses
        self._seen: dict[int, tuple[float, float, int]] = {}  # pid -> its schedstat at the last call
        self._at = 0.0  # time of the last call
        # per interval between calls: (start, end, run s, wait s and slices of the tree, run s of the jobs)
        self._steps: deque[tuple[float, float, float, float, int, float]] = deque()
        self.last: dict[str, float] = {}  # the figures of the last call, for the worker's log

    def __call__(self, jobs: list[int]) -> float:
        now = time.monotonic()
        ran = waited = ran_jobs = 0.0
        slices = 0
        seen = {}
        for pid in descendants(self.root):
            st = schedstat(pid)
            if st is None:
                continue
            seen[pid] = st
            run0, wait0, slices0 = self._seen.get(pid, (0.0, 0.0, 0))
            # a thread that ended takes its counters out of the process's sum: no negative steps
            step = max(0.0, st[0] - run0)
            ran, waited, slices = ran + step, waited + max(0.0, st[1] - wait0), slices + max(0, st[2] - slices0)
            if pid in jobs:
                ran_jobs += step
        if self._at:
            self._steps.append((self._at, now, ran, waited, slices, ran_jobs))
        self._seen, self._at = seen, now
        while self._steps and self._steps[0][1] < now - WINDOW_S:
            self._steps.popleft()
        span = now - self._steps[0][0] if self._steps else 0.0
        run, wait, n = (sum(s[k] for s in self._steps) for k in (2, 3, 4))
        cpu = run / span if span > 0.2 else 0.0
        latency = wait / n if n > 20 else 0.0  # too few wake-ups to tell (an idle worker): none
        if jobs and span >= WINDOW_S * 0.9:
            per_job = sum(s[5] for s in self._steps) / span / len(jobs)
            self.per_job = max(self.prior, self.per_job + 0.1 * (per_job - self.per_job))
        load = max(cpu, len(jobs) * self.per_job) / self.cores
        if self.max_jobs:
            load = max(load, len(jobs) / self.max_jobs)
        if latency >= LATENCY_FULL_S:
            load = max(load, 1.0)
        self.last = {"cpu_cores": round(cpu, 3), "latency_ms": round(latency * 1000, 2),
                     "per_job": round(self.per_job, 3), "jobs": len(jobs), "load": round(load, 3)}
        return load
