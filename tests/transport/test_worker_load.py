"""What a `synthconv worker` reports as its load (transport/worker_load.py), and how a run's rooms
take turns asking for agent workers (supervisor.py), without a server: a worker whose agents fall
behind real time, or that just took a room, or is at --max-jobs, reports itself full; rooms are
served first come first served, and wait without a deadline until admitted."""

import logging
import math
import os
import subprocess
import sys
import time

from synthconv.supervisor import ADMISSION_LIMIT_S, _Admissions
from synthconv.transport.admission import Admit
from synthconv.transport.worker_load import LAG_FRESH_S, VadLag, WorkerLoad, cpu_seconds, report_lag


def test_a_worker_whose_agent_fell_behind_is_full_until_the_lag_is_old(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHCONV_WORKER_STATE", str(tmp_path))
    load = WorkerLoad(cores_=2.0, state=tmp_path)
    me = os.getpid()
    assert load([]) < 0.1  # nothing runs
    report_lag(0.05)  # keeping up
    assert load([me]) < 0.7 and load.last["lag_s"] == 0.05
    report_lag(0.6)  # a line started 0.6 s late
    report_lag(0.01)  # and since then on time: the worst of the last LAG_FRESH_S counts
    assert load([me]) >= 1.0 and load.last["lag_s"] == 0.6
    (tmp_path / str(me)).write_text(f"{time.time() - LAG_FRESH_S - 1:.3f} 0.6")  # an old report
    assert load([me]) < 0.7


def test_a_vad_running_behind_real_time_fills_the_worker(tmp_path, monkeypatch):
    """silero's own warning carries its backlog: an agent that hears late counts as behind."""
    monkeypatch.setenv("SYNTHCONV_WORKER_STATE", str(tmp_path))
    VadLag.install()
    VadLag.install()  # once per process, however often it is asked
    silero = logging.getLogger("livekit.plugins.silero")
    try:
        assert sum(isinstance(h, VadLag) for h in silero.handlers) == 1
        silero.warning("VAD inference is slower than realtime", extra={"delay": 1.25})
        load = WorkerLoad(cores_=2.0, state=tmp_path)
        assert load([os.getpid()]) >= 1.0 and load.last["lag_s"] == 1.25
    finally:
        silero.handlers = [h for h in silero.handlers if not isinstance(h, VadLag)]


def test_a_worker_whose_agents_fell_behind_caps_them_a_room_below_and_later_tries_a_room_more(tmp_path, monkeypatch):
    """The cap covers CPU the worker cannot see (a model server on the same machine): rooms that
    fell behind at 6 agents run on, the next room waits until only 2 run, and after
    CAP_PROBE_S at the cap without lag one more room is let in."""
    for name, value in {"RAMP_S": 0.0, "LAG_FRESH_S": 0.5, "CAP_PROBE_S": 0.4}.items():
        monkeypatch.setattr(f"synthconv.transport.worker_load.{name}", value)
    load = WorkerLoad(cores_=64.0, state=tmp_path)  # the CPU never fills it here
    jobs = list(range(101, 107))
    assert load(jobs) < 0.7
    (tmp_path / "101").write_text(f"{time.time():.3f} 0.6")  # a just-started agent's loop ran late:
    assert load(jobs) >= 1.0 and load.cap is None  # full while it is fresh, but no cap learned
    time.sleep(0.6)  # the agents settled
    (tmp_path / "101").write_text(f"{time.time():.3f} 0.3")  # a little behind: no new room, no cap
    assert load(jobs) >= 1.0 and load.cap is None
    (tmp_path / "101").write_text(f"{time.time():.3f} 0.6")  # a settled agent fell behind
    assert load(jobs) >= 1.0 and load.cap == 4
    (tmp_path / "101").write_text(f"{time.time() - 1:.3f} 0.6")  # that lag is old now
    assert load(jobs[:4]) >= 1.0  # at its cap: no new room
    assert load(jobs[:2]) < 0.7  # a room ended: the next one may start
    time.sleep(0.45)
    assert load(jobs[:4]) < 0.7 and load.cap == 6  # at the cap without lag: one room more
    time.sleep(0.55)
    (tmp_path / "101").write_text(f"{time.time():.3f} 0.6")  # behind again, with 5 agents (a room's first ended)
    assert load(jobs[:5]) >= 1.0 and load.cap == 4  # whole rooms: 2 of them


def test_a_worker_takes_one_room_at_a_time_and_no_more_agents_than_max_jobs(monkeypatch):
    monkeypatch.setattr("synthconv.transport.worker_load.RAMP_S", 0.3)
    load = WorkerLoad(cores_=2.0, max_jobs=4)
    assert load([101]) < 0.7  # a room's first agent: its second must be accepted too
    assert load([101, 102]) >= 1.0  # both just started: the next room waits
    time.sleep(0.4)
    assert load([101, 102]) == 0.5  # two of four
    assert load([101, 102, 103]) == 0.75 and load([101, 102, 103, 104]) >= 1.0  # --max-jobs 4


def test_the_load_counts_the_cpu_of_its_job_processes():
    """Whatever share of a core the machine gives it, a busy child's CPU is the worker's load."""
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 20: pass"])
    try:
        time.sleep(0.5)
        load = WorkerLoad(cores_=2.0)  # this process is the worker: the burner is its child
        load([])
        t0, cpu0 = time.monotonic(), cpu_seconds(burner.pid)
        time.sleep(2.0)
        reported = load([])
        used = (cpu_seconds(burner.pid) - cpu0) / (time.monotonic() - t0)  # cores it got meanwhile
    finally:
        burner.kill()
        burner.wait()
    assert used > 0.02 and abs(load.last["cpu_cores"] - used) < 0.1 + 0.2 * used
    assert abs(reported - load.last["cpu_cores"] / 2.0) < 1e-3


def test_a_worker_with_a_room_is_full_while_its_cores_are_busy_and_never_refuses_its_first(monkeypatch):
    """Its rooms cost more than its own processes (the observer, livekit-server) and another
    worker may share its cores: their busy share counts once it runs whole rooms. It takes a
    first room, and a room's second agent, whatever the machine does."""
    monkeypatch.setattr("synthconv.transport.worker_load.RAMP_S", 0.0)
    ticks = [(0, 0)]
    load = WorkerLoad(cores_=2.0, machine=lambda: ticks[-1])
    load([])
    ticks.append((180, 200))  # 90 % of its cores' time busy since
    assert load([]) < 0.7 and load.last["machine"] == 0.9  # running nothing: it takes a room
    assert load([101]) < 0.7  # a room's first agent: its second is let in
    assert load([101, 102]) >= 0.9  # a whole room: no more until the cores calm down
    ticks.append((190, 400))  # 5 % busy in the last 200 ticks
    assert load([101, 102]) < 0.7


class _Conn:
    def __init__(self) -> None:
        self.sent = []

    def send(self, msg) -> None:  # noqa: ANN001
        self.sent.append(msg)


class _Proc:
    def is_alive(self) -> bool:
        return True


class _Runner:
    def __init__(self, job: str) -> None:
        self.job, self.conn, self.proc, self.deadline, self.in_call = job, _Conn(), _Proc(), 0.0, False


def test_rooms_take_turns_first_come_first_served_and_wait_without_a_deadline():
    shown: list[str] = []
    queue = _Admissions(hard_limit=100.0, log=lambda _line: None, on_status=shown.append)
    a, b, c = _Runner("a"), _Runner("b"), _Runner("c")
    for r in (b, a, c):
        queue.handle(r, "ask", 0.0)
    assert all(r.deadline == math.inf for r in (a, b, c))  # waiting for a worker is not the call
    queue.step([a, b, c], 1.0)
    assert b.conn.sent == [Admit("go")] and not a.conn.sent and not c.conn.sent  # one at a time, in order
    queue.handle(b, "waiting", 2.0)
    assert shown == ["waiting for an agent worker: 3 conversations queued"]
    queue.handle(b, "admitted", 5.0)
    assert b.in_call and b.deadline == 105.0  # the call's limit counts from here
    queue.step([a, b, c], 5.1)
    assert a.conn.sent == [Admit("go")] and not c.conn.sent
    # while a call runs, the room that asks waits for it to end (up to a job's whole time limit)
    queue.step([a, b, c], 5.1 + 90)
    assert a.conn.sent == [Admit("go")]
    queue.gone(b, 50.0)  # b's call ended: nothing runs any more
    queue.step([a, b, c], 50.0 + ADMISSION_LIMIT_S + 1)
    assert a.conn.sent[-1] == Admit("give-up")  # no worker took it: it fails, the next asks
    queue.gone(a, 200.0)
    queue.step([a, b, c], 200.0)
    assert c.conn.sent == [Admit("go")]
