"""A run folder nothing can corrupt or escape: names as paths, one writer, full and read-only
disks, damaged files, absurd numbers. Each test is one class of hostile but realistic input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli, one_line_error, read_jsonl, start

from synthconv.runfolder import RunLock

REFUND = ["--scenario", "refund"]
ESPEAK = ["--tts", "espeak"]  # any voice does for what a disk does to a run; espeak-ng is the quickest


@pytest.fixture
def run_copy(offline_run, tmp_path) -> Path:
    """A private copy of the shared finished 3-conversation run, to damage."""
    return Path(shutil.copytree(offline_run, tmp_path / "run"))


def library_copy(tmp_path: Path) -> tuple[Path, Path]:
    sc, pe = tmp_path / "scenarios", tmp_path / "personas"
    shutil.copytree(ROOT / "scenarios", sc)
    shutil.copytree(ROOT / "personas", pe)
    return sc, pe


def edit_run_json(run: Path, change) -> None:  # noqa: ANN001
    info = json.loads((run / "run.json").read_text())
    change(info)
    (run / "run.json").write_text(json.dumps(info))


def validate_json(run: Path) -> tuple[int, dict]:
    proc = cli("inspect", str(run), "--validate", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)  # always JSON: the nightly recipe stores it


# --- 1. names that become paths ---------------------------------------------------------------


def test_a_role_key_that_climbs_out_of_the_run_is_refused_on_load(tmp_path):
    sc, pe = library_copy(tmp_path)
    text = (sc / "refund.yaml").read_text()
    (sc / "refund.yaml").write_text(text.replace("\n  customer:", "\n  ../../../../escaped:", 1))
    out = tmp_path / "deep" / "er" / "run"
    one_line_error(cli("generate", "--count", "1", *REFUND, "--scenarios-dir", str(sc),
                             "--personas-dir", str(pe), "--out", str(out)), "refund.yaml", "roles")
    assert not out.exists() and not list(tmp_path.rglob("escaped*"))


@pytest.mark.parametrize("field,value", [("id", "../../victim-0123abcd"), ("id", "/etc/x-0123abcd"),
                                         ("scenario", "../x"), ("roles", {"../../a": "cust-maria-lopez", "b": "c"})])
def test_a_job_edited_in_run_json_cannot_point_outside(run_copy, tmp_path, field, value):
    victim = tmp_path / "victim-0123abcd"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    edit_run_json(run_copy, lambda info: info["jobs"][0].__setitem__(field, value))
    one_line_error(cli("generate", "--resume", str(run_copy)), "run.json", f"jobs.0.{field}")
    one_line_error(cli("inspect", str(run_copy)), "run.json", f"jobs.0.{field}")
    assert (victim / "keep").read_text() == "mine"


def test_inspect_takes_only_a_planned_conversation_id(run_copy):
    for cid in ("../run", "..", "/etc", "refund-0000000g"):
        one_line_error(cli("inspect", str(run_copy), cid), "no conversation")


# --- 2. one writer per run --------------------------------------------------------------------


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "run"
    first = start("generate", "--count", "2", "--seed", "5", "--concurrency", "1", *REFUND, *ESPEAK, "--out", str(out))
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = cli("generate", "--resume", str(out))
        one_line_error(second, "another synthconv", f"pid {first.pid}")
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stdout + stderr
    rows = read_jsonl(out / "conversations.jsonl")
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert cli("inspect", str(out), "--validate").returncode == 0


def test_a_lock_is_released_when_its_holder_dies(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from synthconv.runfolder import RunLock; "
                               f"RunLock({str(out)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ValueError, match="another synthconv"):
        RunLock(out).acquire()
    holder.kill()
    holder.wait()
    RunLock(out).acquire().release()  # no stale lock after a SIGKILL


def _children(pid: int) -> set[int]:
    kids = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids |= {int(k) for k in (task / "children").read_text().split()}
    return kids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except FileNotFoundError:  # gone since it was listed
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_runners_die_with_a_sigkilled_supervisor(tmp_path):
    out = tmp_path / "run"
    sup = start("generate", "--count", "4", "--concurrency", "2", "--out", str(out))
    deadline = time.monotonic() + 60
    runners: set[int] = set()
    while time.monotonic() < deadline and len(runners) < 2:  # the second runner may start after the first logs
        time.sleep(0.2)
        runners = {k for k in _children(sup.pid) if "spawn_main" in _cmdline(k)}
    assert len(runners) == 2
    sup.send_signal(signal.SIGKILL)
    sup.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in runners) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in runners)
    before = sorted(p.name for p in (out / "conversations").iterdir())
    time.sleep(3)
    assert sorted(p.name for p in (out / "conversations").iterdir()) == before  # nobody writes any more


# --- 3. a disk that refuses writes mid-run ----------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs the test mounts (as root; a conversation needs several MB)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_stops_the_run_cleanly_and_resume_finishes_it(small_disk):
    out = small_disk / "run"
    proc = cli("generate", "--count", "2", "--seed", "4", *REFUND, *ESPEAK, "--concurrency", "1", "--out", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "stopped: no space left on device" in proc.stderr and f"resume with: synthconv generate --resume {out}" in proc.stderr
    info = json.loads((out / "run.json").read_text())
    assert info["ended_at"] and info["stopped"].startswith("stopped: no space left")
    rows = read_jsonl(out / "conversations.jsonl")
    assert len(rows) == 2 and not any(r["status"] == "ok" for r in rows)  # one line per planned job
    assert not list(out.rglob("*.tmp")) and not list((out / "conversations").glob(".tmp-*"))
    assert not list((out / "conversations").glob("*/meta.json"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    proc = cli("generate", "--resume", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert cli("inspect", str(out), "--validate").returncode == 0


def test_a_disk_turned_read_only_mid_run_stops_it_and_resume_finishes_it(small_disk):
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    out = small_disk / "run"
    gen = start("generate", "--count", "3", "--seed", "4", *ESPEAK, "--concurrency", "1", "--out", str(out))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / "conversations.jsonl").is_file()
                                               and (out / "conversations.jsonl").read_text().strip()):
        time.sleep(0.1)
    while subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode:
        time.sleep(0.05)  # busy while a file is open for writing
    try:
        stdout, stderr = gen.communicate(timeout=300)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert gen.returncode == 1 and "Traceback" not in stderr, stderr
    assert "read-only file system" in stderr and "resume with" in stderr
    done = {r["id"]: r for r in read_jsonl(out / "conversations.jsonl")}
    assert [r["status"] for r in done.values()] == ["ok"] * len(done) and len(done) < 3
    first = sorted((out / "conversations").glob("*/meta.json"))
    assert len(first) >= len(done)  # one may have been renamed into place just before
    snapshot = {p: p.read_bytes() for p in first[0].parent.rglob("*") if p.is_file()}
    proc = cli("generate", "--resume", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(p.read_bytes() == b for p, b in snapshot.items())  # complete conversations stay as they were
    assert cli("inspect", str(out), "--validate").returncode == 0


# --- 4. damaged files -------------------------------------------------------------------------


def test_a_yaml_file_that_is_not_utf8_is_one_line(tmp_path):
    sc, pe = library_copy(tmp_path)
    (sc / "refund.yaml").write_bytes((sc / "refund.yaml").read_bytes().replace(b"title:", b"title: \xff", 1))
    one_line_error(cli("scenarios", "--scenarios-dir", str(sc), "--personas-dir", str(pe)),
                   "refund.yaml", "UTF-8")


@pytest.mark.parametrize("damage,needle", [
    (lambda i: i.pop("jobs"), "jobs"),
    (lambda i: i["jobs"][1].__setitem__("seed", -3), "jobs.1.seed"),
    (lambda i: i["jobs"][1].pop("roles"), "jobs.1"),
    (lambda i: i["jobs"].append(dict(i["jobs"][0])), "planned twice"),
    (lambda i: i["flags"].__setitem__("job_timeout", "soon"), "flags.job_timeout"),
    (lambda i: i["flags"].pop("engine"), "flags.engine"),
])
def test_a_hand_edited_run_json_is_one_line(run_copy, damage, needle):
    edit_run_json(run_copy, damage)
    one_line_error(cli("generate", "--resume", str(run_copy)), needle)


@pytest.mark.parametrize("content", [b"", b'{"flags": {}, "jobs": [', b"\xff\xfe", b"[1, 2]", b'{"a": NaN}'])
def test_a_truncated_or_garbled_run_json_is_one_line(run_copy, content):
    (run_copy / "run.json").write_bytes(content)
    one_line_error(cli("generate", "--resume", str(run_copy)), "run.json")
    proc = cli("inspect", str(run_copy), "--validate", "--json")
    one_line_error(proc, "run.json")
    assert "run.json" in json.loads(proc.stdout)["problems"]["run"][0]  # still JSON for the nightly recipe


def test_a_damaged_meta_json_is_reported_and_redone_on_resume(run_copy):
    rows = read_jsonl(run_copy / "conversations.jsonl")
    meta = run_copy / "conversations" / rows[0]["id"] / "meta.json"
    meta.write_bytes(meta.read_bytes()[:40])
    code, report = validate_json(run_copy)
    assert code == 1 and any("meta.json" in p for p in report["problems"][rows[0]["id"]])
    # a run that did not end is resumable: the damaged conversation is redone, the others kept
    edit_run_json(run_copy, lambda i: i.__setitem__("ended_at", None))
    (run_copy / "conversations.jsonl").write_text("")
    kept = (run_copy / "conversations" / rows[1]["id"] / "meta.json").read_bytes()
    proc = cli("generate", "--resume", str(run_copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (run_copy / "conversations" / rows[1]["id"] / "meta.json").read_bytes() == kept
    assert validate_json(run_copy)[0] == 0


def test_damaged_index_lines_are_problems_in_valid_json(run_copy):
    lines = (run_copy / "conversations.jsonl").read_bytes().splitlines(keepends=True)
    broken = json.loads(lines[1])
    del broken["status"]
    lines[1] = json.dumps(broken).encode() + b"\n"
    lines.append(b'{"id": "caf\xe9"}\n')
    (run_copy / "conversations.jsonl").write_bytes(b"".join(lines))
    code, report = validate_json(run_copy)
    assert code == 1
    assert any("line 2" in p and "status" in p for p in report["problems"]["run"])
    assert any("line 4" in p for p in report["problems"]["run"])


def test_a_conversation_that_is_not_the_planned_one_is_a_problem(run_copy):
    rows = read_jsonl(run_copy / "conversations.jsonl")
    meta_path = run_copy / "conversations" / rows[0]["id"] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["seed"] += 1
    meta_path.write_text(json.dumps(meta))
    code, report = validate_json(run_copy)
    assert code == 1 and any("seed" in p for p in report["problems"][rows[0]["id"]])


@pytest.mark.parametrize("engine", ["os:getcwd", "os:sep", "json:JSONDecodeError", "nosuchmodule:X"])
def test_an_engine_that_is_not_an_engine_is_one_line(tmp_path, engine):
    one_line_error(cli("generate", "--engine", engine, "--count", "1", "--out", str(tmp_path / "r")),
                   "--engine")


# --- 5. absurd numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("flag,value", [("--count", "1000000000"), ("--job-timeout", "nan"),
                                        ("--job-timeout", "inf"), ("--seed", "-1"), ("--max-failure-rate", "nan")])
def test_absurd_numbers_are_refused(tmp_path, flag, value):
    out = tmp_path / "run"
    t0 = time.monotonic()
    one_line_error(cli("generate", flag, value, "--out", str(out)), flag)
    assert time.monotonic() - t0 < 30 and not out.exists()


def test_a_huge_yaml_file_is_refused_before_it_is_parsed(tmp_path):
    sc, pe = library_copy(tmp_path)
    with open(sc / "huge.yaml", "w") as f:
        f.write("id: huge\ntitle: x\nfacts:\n")
        f.write("  - padding padding padding padding padding padding\n" * 60_000)
    one_line_error(cli("scenarios", "--scenarios-dir", str(sc), "--personas-dir", str(pe)),
                   "huge.yaml", "bytes")


def test_brackets_in_user_text_are_printed_as_they_are(tmp_path):
    out = tmp_path / "[bold]run"
    out.mkdir()
    (out / "x").write_text("")
    one_line_error(cli("generate", "--count", "1", "--out", str(out)), "[bold]run is not empty")


# --- the contract's own writers and readers, in this process ------------------------------------


def _job(n: int = 0):
    from synthconv.job import Job

    return Job(id=f"refund-{n:08x}", scenario="refund", roles={"agent": "agent-a", "customer": "cust-c"}, seed=n)


def test_results_round_trip_through_conversations_jsonl_without_their_private_fields(tmp_path):
    from synthconv.runfolder import IndexLine, read_index, write_index

    jobs = [_job(1), _job(2), _job(3)]
    results = {jobs[0].id: IndexLine.for_job(jobs[0], "ok", duration_s=61.5, turns=12),
               jobs[1].id: IndexLine.failed(jobs[1], "TimeoutError: slow", transient=True)}
    write_index(tmp_path, jobs, results, final=False)
    # finished jobs only, in plan order
    assert [r.to_dict() for _, r in read_index(tmp_path)] == [r.to_dict() for r in results.values()]
    write_index(tmp_path, jobs, results, final=True)
    lines = read_jsonl(tmp_path / "conversations.jsonl")
    assert [r["status"] for r in lines] == ["ok", "failed", "failed"] and lines[2]["error"] == "not run"
    assert all(list(r) == ["id", "status", "scenario", "roles", "duration_s", "turns", "error"] for r in lines)
    assert all(not isinstance(r, str) and not r.transient for _, r in read_index(tmp_path))  # never written
    with open(tmp_path / "conversations.jsonl", "a") as f:
        f.write('{"id": "x"}\nnot json\n')
    assert [r for _, r in read_index(tmp_path)][3:] == ["missing or bad ['status', 'scenario', 'roles']",
                                                        "not a JSON line (Expecting value: line 1 column 1 (char 0))"]


def test_a_conversation_appears_only_complete_and_a_failure_replaces_it(tmp_path, monkeypatch):
    import numpy as np

    from synthconv.recording import Recording, Turn
    from synthconv.runfolder import conversation, write_conversation, write_error
    from synthconv.runfolder.validate import validate_conversation

    pcm = (np.random.default_rng(0).uniform(-1, 1, 24000) * 8000).astype(np.int16)
    rec = Recording(sample_rate=24000, tracks={"agent": pcm, "customer": np.zeros(24000, np.int16)},
                    turns=[Turn(0, "agent", "A", "Hello.", 0.0, 1.0, False, None)], timing="modeled")
    job = _job(7)

    def broken_mix(paths, out):  # noqa: ANN001
        raise OSError("ffmpeg went away")

    meta = {"id": job.id, "scenario": {"id": "refund"}, "personas": {"agent": {}, "customer": {}}, "seed": 7,
            "wer": None, "timing": "modeled", "sample_rate": 24000, "duration_s": 1.0, "turns": 1}
    monkeypatch.setattr(conversation, "mix_mp3", broken_mix)
    with pytest.raises(OSError, match="ffmpeg went away"):
        write_conversation(tmp_path, job.id, rec, meta)
    assert not (tmp_path / "conversations").exists() or not any((tmp_path / "conversations").iterdir())
    monkeypatch.undo()
    folder = write_conversation(tmp_path, job.id, rec, meta)
    assert sorted(p.name for p in (tmp_path / "conversations").iterdir()) == [job.id]
    assert validate_conversation(folder) == []
    assert json.loads((folder / "meta.json").read_text())["duration_s"] == 1.0
    write_error(tmp_path, job.id, "RuntimeError: later attempt failed")
    assert sorted(p.name for p in folder.iterdir()) == ["error.txt"]
