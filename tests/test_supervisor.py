"""The supervisor: batch runs that survive: isolation, deadlines, retries, early stop, SIGKILL + resume, SIGINT."""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import cli, read_jsonl, start, synthconv

FAULTY = "faulty_engine:FaultyEngine"
THREE = ["--scenario", "refund", "--scenario", "billing-dispute", "--scenario", "outage"]


def faulty(tmp_path, faults, *args):
    """generate with an engine that misbehaves on purpose (tests/faulty_engine.py), in this process:
    the runner processes it supervises are real."""
    return cli("generate", "--engine", FAULTY, *args,
               env={"SYNTHCONV_TEST_FAULTS": faults, "SYNTHCONV_TEST_MARKERS": str(tmp_path)})


def by_scenario(run):
    return {r["scenario"]: r for r in read_jsonl(run / "conversations.jsonl")}


def test_a_job_that_raises_fails_alone(tmp_path):
    out = tmp_path / "run"
    proc = faulty(tmp_path, "refund=raise", "--count", "3", *THREE, "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    rows = by_scenario(out)
    assert rows["refund"]["status"] == "failed" and "injected failure" in rows["refund"]["error"]
    assert rows["billing-dispute"]["status"] == "ok" and rows["outage"]["status"] == "ok"
    assert "injected failure" in (out / "conversations" / rows["refund"]["id"] / "error.txt").read_text()
    assert f"failed {rows['refund']['id']}" in proc.stdout
    assert json.loads((out / "run.json").read_text())["counts"] == {"planned": 3, "ok": 2, "failed": 1}


def test_a_job_that_hangs_is_killed_at_its_deadline(tmp_path):
    out = tmp_path / "run"
    t0 = time.monotonic()
    proc = faulty(tmp_path, "outage=hang", "--count", "3", *THREE, "--job-timeout", "15", "--retries", "0",
                  "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    assert time.monotonic() - t0 < 120
    rows = by_scenario(out)
    assert rows["outage"]["status"] == "failed" and "killed after" in rows["outage"]["error"]
    assert rows["refund"]["status"] == "ok" and rows["billing-dispute"]["status"] == "ok"
    assert not list((out / "conversations").glob(".tmp-*"))


def test_a_transient_failure_is_retried(tmp_path):
    out = tmp_path / "run"
    proc = faulty(tmp_path, "refund=flaky", "--count", "1", "--scenario", "refund", "--retries", "1",
                  "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retry refund-" in (out / "run.log").read_text()
    assert read_jsonl(out / "conversations.jsonl")[0]["status"] == "ok"


def test_too_many_failures_stop_the_run_early(tmp_path):
    out = tmp_path / "run"
    proc = faulty(tmp_path, "*=raise", "--count", "8", "--concurrency", "1", "--max-failure-rate", "0.25",
                  "--out", str(out))
    assert proc.returncode == 1
    assert "stopped early" in proc.stderr and f"--resume {out}" in proc.stderr
    rows = read_jsonl(out / "conversations.jsonl")
    assert len(rows) == 8 and all(r["status"] == "failed" for r in rows)
    assert sum(r["error"] == "not run" for r in rows) >= 4  # it stopped after the third failure


def _start(out: Path, count: int) -> subprocess.Popen:
    return start("generate", "--count", str(count), "--seed", "11", "--concurrency", "2", "--tts", "espeak",
                 "--out", str(out))  # any voice does for a signal; espeak-ng is the quickest


def _wait_for_complete(out: Path, n: int, proc: subprocess.Popen, limit: float = 300) -> list[Path]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        # complete: conversations/<id>/meta.json, not the .tmp-<id>/ folder it is written in first
        done = [p.parent for p in (out / "conversations").glob("*/meta.json") if not p.parent.name.startswith(".")]
        if len(done) >= n:
            return done
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no progress")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, 6)
    done = _wait_for_complete(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, mid-run
    proc.wait()
    kept = {p.name: _digest(p) for p in done}
    assert len(kept) < 6
    assert cli("generate", "--count", "6", "--out", str(out)).returncode == 2  # not without --resume
    resumed = cli("generate", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    for name, digest in kept.items():  # complete conversations untouched, byte for byte
        assert _digest(out / "conversations" / name) == digest
    rows = read_jsonl(out / "conversations.jsonl")
    plan = [j["id"] for j in json.loads((out / "run.json").read_text())["jobs"]]
    assert [r["id"] for r in rows] == plan and all(r["status"] == "ok" for r in rows)
    assert not list((out / "conversations").glob(".tmp-*"))
    assert cli("inspect", str(out), "--validate").returncode == 0


def test_sigint_stops_promptly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, 6)
    _wait_for_complete(out, 1, proc)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 15
    assert proc.returncode == 130, stderr
    assert f"synthconv generate --resume {out}" in stderr
    assert "Traceback" not in stderr
    rows = read_jsonl(out / "conversations.jsonl")
    assert len(rows) == 6
    for r in rows:  # nothing is ok unless its folder is complete
        if r["status"] == "ok":
            assert (out / "conversations" / r["id"] / "meta.json").is_file()
    assert not list((out / "conversations").glob(".tmp-*"))
    assert json.loads((out / "run.json").read_text())["stopped"] == "interrupted by SIGINT"
    assert cli("inspect", str(out), "--validate").returncode == 0


def test_resume_keeps_the_plan(tmp_path):
    out = tmp_path / "run"
    proc = cli("generate", "--resume", str(out))
    assert proc.returncode == 2 and "no run.json" in proc.stderr


def test_no_secret_reaches_the_run_folder(tmp_path):
    out = tmp_path / "run"
    proc = synthconv("generate", "--count", "1", "--tts", "espeak", "--out", str(out),
                     env={"OPENAI_API_KEY": "sk-test-do-not-leak-123", "LIVEKIT_API_SECRET": "lk-secret-do-not-leak"})
    assert proc.returncode == 0
    for p in out.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert b"do-not-leak" not in data, p
    assert "do-not-leak" not in proc.stdout + proc.stderr


# --- the supervisor alone, with fake runners (tests/fake_runner.py): no engine, no audio ---------


def _fake_run(tmp_path, scenarios: list[str], **settings):  # noqa: ANN003
    from fake_runner import fake_runner_main

    from synthconv.config import RunConfig
    from synthconv.job import Job
    from synthconv.runfolder import RunLog
    from synthconv.supervisor import execute

    out = tmp_path / "run"
    (out / "conversations").mkdir(parents=True)
    jobs = [Job(id=f"{s}-{i:08x}", scenario=s, roles={"a": "p", "b": "q"}, seed=i) for i, s in enumerate(scenarios)]
    config = RunConfig.build(out=out, **settings)
    outcome = execute(config, jobs, log=RunLog(out), target=fake_runner_main)
    return outcome, read_jsonl(out / "conversations.jsonl"), (out / "run.log").read_text()


def test_supervisor_retries_transient_failures_and_keeps_final_ones(tmp_path):
    outcome, rows, log = _fake_run(tmp_path, ["ok-a", "flaky-b", "fail-c", "ok-d"], concurrency=2, retries=1)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "ok"]  # plan order, whatever finished first
    assert rows[2]["error"] == "RuntimeError: scripted failure"
    assert "retry flaky-b-00000001 in 1 s (attempt 2)" in log and outcome.stopped is None


def test_supervisor_replaces_a_runner_that_dies_or_hangs(tmp_path):
    outcome, rows, _ = _fake_run(tmp_path, ["die-a", "ok-b", "hang-c", "ok-d"], concurrency=2, retries=0,
                                 job_timeout=1.0)
    by = {r["scenario"]: r for r in rows}
    assert by["ok-b"]["status"] == by["ok-d"]["status"] == "ok"
    assert by["die-a"]["error"] == "runner process died (exit code 3)"
    assert by["hang-c"]["error"].startswith("killed after 6.2 s without finishing")


def test_supervisor_stops_early_past_the_failure_rate(tmp_path):
    outcome, rows, _ = _fake_run(tmp_path, ["fail-a", "fail-b", "ok-c", "ok-d", "ok-e", "ok-f"], concurrency=1,
                                 max_failure_rate=0.2)
    assert outcome.stopped.startswith("stopped early: 2 of 6 failed")
    assert [r["error"] for r in rows[2:]] == ["not run"] * 4  # one line per planned conversation
