"""A runner process with no engine and no audio, for the supervisor's unit tests: it speaks the
supervisor's protocol (runner.Ready, runner.Order -> runfolder.IndexLine) and answers each job
as its scenario id says, at once:

- `ok-*`: ok; `fail-*`: a final failure; `flaky-*`: a transient failure on the first attempt
  of that job in this runner's life, then ok; `die-*`: the process exits mid-job; `hang-*`:
  never answers (the supervisor's deadline kills it).
"""

from __future__ import annotations

import os
import time

from synthconv.runfolder import IndexLine
from synthconv.runner import Ready

_seen: set[str] = set()


def fake_runner_main(conn, config, parent: int) -> None:  # noqa: ANN001
    conn.send(Ready())
    while True:
        order = conn.recv()
        if order is None:
            return
        job = order.job
        kind = job.scenario.split("-")[0]
        marker = config.out / f".attempt-{job.id}"
        if kind == "die":
            os._exit(3)
        if kind == "hang":
            time.sleep(3600)
        if kind == "flaky" and not marker.exists():
            marker.write_text("1")
            conn.send(IndexLine.failed(job, "ConnectionError: dropped", transient=True))
            continue
        if kind == "fail":
            conn.send(IndexLine.failed(job, "RuntimeError: scripted failure"))
            continue
        conn.send(IndexLine.for_job(job, "ok", duration_s=1.0, turns=6))
