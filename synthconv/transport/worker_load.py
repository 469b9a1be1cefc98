"""The load a `synthconv worker` reports to livekit-server: how saturated its job processes are.

livekit-server offers a job only to a worker whose status is available, and a livekit-agents
worker marks itself full once its load reaches `load_threshold` (checked again on every job
offer, counting the jobs it has accepted but not started yet). A full worker's offers go to
other workers, and with none left the dispatch is dropped: `generate` then keeps the room
waiting for capacity (transport/livekit.py), so a saturated machine queues rooms instead of
starting rooms it cannot run in real time.

The load is the largest of:

- **CPU**: what its job processes (the ones the forkserver starts; nothing else on the machine)
  used over the last few seconds, per core it may run on. An agent just accepted has not started
  talking yet, so each active job counts at least the CPU an active job was seen to use
  (learned while jobs run, never below a prior): rooms accepted in a burst count before their
  CPU shows.
- **Lag**: whether its agents keep up with real time. Each job process reports how late its
  event loop ran (every second: the audio it plays is fed from that loop) and how late its
  lines started or how much longer than their audio they took to play out (the lag meta.json
  records, `realtime_lag_s`) and how far its VAD's inference runs behind; once one fell
  `LAG_FULL_S` behind in the last `LAG_FRESH_S`, the worker is full. This is what the rooms feel
  when the machine is short of CPU, whoever uses it: other programs at the same priority make
  the agents' bursts of work (a reply: policy and speech, ~50 ms of CPU) take many times as
  long. A niced background job does not, and does not stop the worker (livekit-agents' default
  load, the whole machine's CPU, made a worker on a busy machine refuse every room).
- **Machine**: how busy the cores it may run on are, from all programs at normal priority
  (/proc/stat, less the time of niced ones and of its own processes that run no job), once it
  runs a room: its own job processes are only part of what its rooms cost (generate's observer,
  livekit-server, a model server) and other workers on the machine take from the same cores.
  It counts only while its jobs are whole rooms (an even number): a room's second agent is
  never kept waiting, and a worker running nothing always takes a room, so a machine busy with
  somebody else's work slows a run down instead of stopping it.
- **Cap**: the most agents at once that kept real time here, learned like a congestion window.
  When an agent falls `LAG_CAP_S` behind, the worker caps its jobs one room below what it runs
  (the rooms running go on; the next starts once one ended), and after `CAP_PROBE_S` at its cap
  without lag it tries one room more. This covers the CPU no worker sees: a model server or
  livekit-server on the same machine, other programs, an engine dearer than the prior says (an
  OpenAI pipeline agent's VAD and resampling: 0.12-0.17 cores against the offline agent's 0.06);
  the lag alone lets a room in whenever a spike has passed, and the next one tips it over.
- **Ramp**: while a room's two agents are younger than RAMP_S, it is full: rooms start one at a
  time, each once the one before has shown what it costs.
- the share of `--max-jobs` in use, when that is set.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

PRIOR_CORES_PER_JOB = 0.06  # an offline agent in a room, measured (bench/livekit_rooms.py); learned upward
WINDOW_S = 3.0  # how far back the CPU share looks
LAG_FULL_S = 0.25  # an agent this far behind real time: the worker takes no new job
LAG_FRESH_S = 10.0  # for this long after it was reported
# an agent this far behind: the worker learns to run fewer at once. Higher than LAG_FULL_S: a
# job's loop stalls 0.1-0.6 s on one-off work however few rooms run (TLS contexts and pydantic
# schemas of its first requests); closer to the 0.5 s that fails a room
LAG_CAP_S = 0.4
CAP_PROBE_S = 60.0  # at its learned cap this long without lag: the worker tries one room more
ROOM = 2  # jobs: a room's two agents
RAMP_S = 3.0  # a room's agents just started: the next room waits this long (their CPU and lag show by then)
STATE_ENV = "SYNTHCONV_WORKER_STATE"  # the folder (in memory) where job processes report their lag
TICK = os.sysconf("SC_CLK_TCK")


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


def descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(p))
    found, todo = [], list(kids.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += kids.get(pid, [])
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and all its threads, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy() -> tuple[int, int] | None:
    """(busy, all) CPU ticks so far of the cores this process may run on, busy without niced
    time (user, system, interrupts, stolen); None when a CPU quota, not the cores, bounds it
    (then /proc/stat counts the whole host's work on those cores)."""
    mine = os.sched_getaffinity(0)
    if cores() < len(mine):
        return None
    busy = total = 0
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            name, *ticks = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in mine:
                user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in ticks[:8])
                busy += user + system + irq + softirq + steal
                total += user + nice + system + idle + iowait + irq + softirq + steal
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


def state_dir() -> Path:
    """Where this worker's job processes report their lag: made once, in memory where possible."""
    if not os.environ.get(STATE_ENV):
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        os.environ[STATE_ENV] = tempfile.mkdtemp(prefix="synthconv-worker-", dir=base)
    return Path(os.environ[STATE_ENV])


_reported: deque[tuple[float, float]] = deque()  # (time, lag) this job process reported


def report_lag(lag: float) -> None:
    """In a job process: how far behind real time it fell just now (seconds). The worker reads
    the most it fell in the last LAG_FRESH_S."""
    folder = os.environ.get(STATE_ENV)
    if not folder:
        return
    now = time.time()
    _reported.append((now, lag))
    while _reported[0][0] < now - LAG_FRESH_S:
        _reported.popleft()
    path = Path(folder) / str(os.getpid())
    try:
        path.with_suffix(".tmp").write_text(f"{now:.3f} {max(v for _, v in _reported):.3f}")
        path.with_suffix(".tmp").replace(path)
    except OSError:
        pass  # the worker is gone, or its folder: nothing to tell


class VadLag(logging.Handler):
    """silero logs "VAD inference is slower than realtime" with how far behind its inference
    runs (`delay`, s): an agent that hears late takes its turns late, so that lag counts too."""

    def emit(self, record: logging.LogRecord) -> None:
        delay = getattr(record, "delay", None)
        if isinstance(delay, (int, float)):
            report_lag(float(delay))

    @classmethod
    def install(cls) -> None:
        logger = logging.getLogger("livekit.plugins.silero")
        if not any(isinstance(h, cls) for h in logger.handlers):
            logger.addHandler(cls())


class WorkerLoad:
    """`load_fnc` of an AgentServer: called with the pids of the processes running jobs, it
    returns the load (1.0: every core this worker may use, or agents falling behind)."""

    def __init__(self, root: int | None = None, cores_: float | None = None,
                 prior: float = PRIOR_CORES_PER_JOB, max_jobs: int | None = None,
                 state: Path | None = None, machine: Callable[[], tuple[int, int] | None] | None = None) -> None:
        self.root = root or os.getpid()
        self.machine = machine  # (busy, all) CPU ticks of its cores so far (machine_busy), if counted
        self._ticks: deque[tuple[float, int, int]] = deque()  # (time, busy, all) within WINDOW_S
        self.cores = cores_ or cores()
        self.prior = prior
        self.max_jobs = max_jobs  # a cap on agents at once whatever the CPU says (memory, a quota)
        self.state = state
        self.per_job = prior  # learned: cores an active job uses
        self.cap: int | None = None  # learned: the most jobs at once that kept real time
        self._capped = -math.inf  # when the cap was last cut or raised
        self._seen: dict[int, float] = {}  # pid -> its CPU seconds at the last call
        self._born: dict[int, float] = {}  # job pid -> when it was first seen running a job
        self._at = 0.0  # time of the last call
        # per interval between calls: (start, end, CPU s of the tree, CPU s of the jobs)
        self._steps: deque[tuple[float, float, float, float]] = deque()
        self.last: dict[str, float | None] = {}  # the figures of the last call, for the worker's log

    def __call__(self, jobs: list[int]) -> float:
        now = time.monotonic()
        ran = ran_jobs = 0.0
        seen = {}
        for pid in descendants(self.root):
            cpu = cpu_seconds(pid)
            if cpu is None:
                continue
            seen[pid] = cpu
            step = cpu - self._seen.get(pid, cpu if not self._at else 0.0)
            ran += step
            ran_jobs += step if pid in jobs else 0.0
        if self._at:
            self._steps.append((self._at, now, ran, ran_jobs))
        self._seen, self._at = seen, now
        while self._steps and self._steps[0][1] < now - WINDOW_S:
            self._steps.popleft()
        span = now - self._steps[0][0] if self._steps else 0.0
        cpu = sum(s[2] for s in self._steps) / span if span > 0.2 else 0.0
        jobs_cpu = sum(s[3] for s in self._steps) / span if span > 0.2 else 0.0
        if jobs and span >= WINDOW_S * 0.9:
            per_job = jobs_cpu / len(jobs)
            self.per_job = max(self.prior, self.per_job + 0.1 * (per_job - self.per_job))
        load = max(cpu, len(jobs) * self.per_job) / self.cores
        busy = self._machine_share(now)
        if busy is not None:  # less this worker's own processes that run no job (prewarming models)
            busy = max(0.0, busy - (cpu - jobs_cpu) / self.cores)
        if busy is not None and jobs and len(jobs) % ROOM == 0:
            load = max(load, busy)
        if self.max_jobs:
            load = max(load, len(jobs) / self.max_jobs)
        lag = self.lag(jobs)
        self._born = {pid: self._born.get(pid, now) for pid in jobs}
        # a job's first seconds block its loop (imports, TLS set-up) whatever the machine's load,
        # and its report keeps the worst of LAG_FRESH_S: only older jobs' lag teaches the cap
        settled = [pid for pid, t in self._born.items() if now - t >= RAMP_S + LAG_FRESH_S]
        self._learn_cap(len(jobs), self.lag(settled), now)
        if self.cap is not None and len(jobs) >= self.cap:
            load = max(load, 1.0)
        young = sum(now - t < RAMP_S for t in self._born.values())
        if lag >= LAG_FULL_S or young >= 2:
            load = max(load, 1.0)
        self.last = {"cpu_cores": round(cpu, 3), "machine": None if busy is None else round(busy, 3),
                     "per_job": round(self.per_job, 3), "jobs": len(jobs),
                     "young": young, "lag_s": round(lag, 3), "cap": self.cap, "load": round(load, 3)}
        return load

    def _machine_share(self, now: float) -> float | None:
        """The share of its cores' time busy with non-niced work over the last WINDOW_S."""
        sample = self.machine() if self.machine is not None else None
        if sample is None:
            return None
        self._ticks.append((now, *sample))
        while len(self._ticks) > 2 and self._ticks[1][0] <= now - WINDOW_S:
            self._ticks.popleft()
        (_, b0, t0), (_, b1, t1) = self._ticks[0], self._ticks[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def _learn_cap(self, n: int, lag: float, now: float) -> None:
        """Cut the cap to one room below `n` when agents fall behind (once per LAG_FRESH_S: a lag
        stays fresh that long); raise it by a room after CAP_PROBE_S at the cap without lag."""
        if lag >= LAG_CAP_S:
            if n >= ROOM and now - self._capped >= LAG_FRESH_S:
                below = ROOM * (math.ceil(n / ROOM) - 1)  # whole rooms (a room's first agent may have left)
                self.cap = max(ROOM, min(self.cap or below, below))
                self._capped = now
        elif self.cap is not None and n >= self.cap and now - self._capped >= CAP_PROBE_S:
            self.cap += ROOM
            self._capped = now

    def lag(self, jobs: list[int]) -> float:
        """The most any job process fell behind real time in the last LAG_FRESH_S (s)."""
        if self.state is None:
            return 0.0
        worst = 0.0
        for pid in jobs:
            try:
                at, lag = (float(x) for x in (self.state / str(pid)).read_text().split())
            except (OSError, ValueError):
                continue
            if time.time() - at <= LAG_FRESH_S:
                worst = max(worst, lag)
        return worst
