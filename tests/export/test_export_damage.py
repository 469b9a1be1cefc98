"""`synthconv export` under damaged input and hostile conditions (issue 24, items 8-11): it never
aliases the run, leaves a damaged conversation out with one line, is all or nothing (a kill or
a full disk leaves no export and nothing that blocks the retry), and refuses an --out inside the
run and a run that a writer holds."""

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

FIXTURE = Path(__file__).resolve().parent / "lhotse_fixture" / "run"  # 4 small conversations
IDS = ["appointment-booking-1a2b3c4d", "wrong-delivery-address-5e6f7a8b", "bank-card-block-hi-9c0d1e2f",
       "refund-request-3a4b5c6d"]


@pytest.fixture
def run(tmp_path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "run")
    return tmp_path / "run"


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".export-" in p.name]


# --- 8. never an alias of the run ----------------------------------------------------------


def test_nemo_copies_the_tracks_and_an_edit_never_reaches_the_run(run, tmp_path):
    out = tmp_path / "ds"
    assert cli("export", str(run), "--out", str(out), "-f", "nemo", "--split", "100/0/0").returncode == 0
    for cid in IDS:
        for track in (run / "conversations" / cid / "tracks").iterdir():
            copy = out / "audio" / "train" / cid / track.name
            assert os.stat(copy).st_ino != os.stat(track).st_ino and os.stat(track).st_nlink == 1
            before = track.read_bytes()
            with open(copy, "r+b") as f:  # edited in place, as an audio editor saves
                f.seek(100)
                f.write(b"\x7f" * 64)
            assert track.read_bytes() == before
    assert cli("inspect", str(run), "--validate").returncode == 0


# --- 9. damaged conversations: left out, one line each --------------------------------------


def _line(run: Path, cid: str, n: int, **change) -> None:
    path = run / "conversations" / cid / "transcript.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[n].update(change)
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))


DAMAGE = {
    "string start": (lambda run, cid: _line(run, cid, 1, start="0.3"), "transcript.jsonl line 2: start: '0.3' is not a number"),
    "list role": (lambda run, cid: _line(run, cid, 0, role=["agent"]), "transcript.jsonl line 1: role: ['agent'] is not a string"),
    "not a WAV": (lambda run, cid: (run / "conversations" / cid / "tracks" / "agent.wav").write_text("hello"),
                  "tracks/agent.wav: not a readable WAV file"),
    "30-byte WAV": (lambda run, cid: (run / "conversations" / cid / "tracks" / "customer.wav").write_bytes(
        (run / "conversations" / cid / "tracks" / "customer.wav").read_bytes()[:30]), "tracks/customer.wav: not a readable WAV"),
    "cut short": (lambda run, cid: (run / "conversations" / cid / "tracks" / "customer.wav").write_bytes(
        (run / "conversations" / cid / "tracks" / "customer.wav").read_bytes()[:2000]), "tracks/customer.wav: truncated"),
    "missing track": (lambda run, cid: (run / "conversations" / cid / "tracks" / "agent.wav").unlink(),
                      "tracks/agent.wav: missing"),
    "undecodable line": (lambda run, cid: (run / "conversations" / cid / "transcript.jsonl").write_bytes(
        b"\xff\n" + (run / "conversations" / cid / "transcript.jsonl").read_bytes()), "transcript.jsonl line 1: not JSON"),
    "linked track": (lambda run, cid: _link(run / "conversations" / cid / "tracks" / "agent.wav"), "a symbolic link"),
}


def _link(track: Path) -> None:
    secret = track.parents[4] / "secret.wav"  # outside the run
    shutil.move(track, secret)
    track.symlink_to(secret)


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_conversation_is_left_out_with_one_line(run, tmp_path, kind):
    damage, needle = DAMAGE[kind]
    cid = IDS[0]
    damage(run, cid)
    out = tmp_path / "ds"
    proc = cli("export", str(run), "--out", str(out), "-f", "hf", "-f", "nemo", "-f", "lhotse", "-f", "stereo",
               "--split", "100/0/0")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip() and not x.startswith("warning:")]
    assert line.startswith(f"skipped {cid}: ") and needle in line, line
    assert "exported 3 conversations" in proc.stdout
    assert sorted(p.name for p in (out / "audio" / "train").iterdir()) == sorted(IDS[1:])
    assert "left out: 1 conversation(s)" in (out / "README.md").read_text() and cid in (out / "README.md").read_text()
    if kind == "linked track":  # never copied into the export
        assert not any(p.is_symlink() or cid in p.name for p in out.rglob("*"))


def test_a_run_with_every_conversation_damaged_is_one_line_and_the_retry_works(run, tmp_path):
    saved = {cid: (run / "conversations" / cid / "transcript.jsonl").read_bytes() for cid in IDS}
    for cid in IDS:
        _line(run, cid, 0, start="0")
    out = tmp_path / "ds"
    one_line_error(cli("export", str(run), "--out", str(out), "-f", "nemo"), "no complete conversation to export",
                   IDS[0], "(and 3 more)")
    assert not out.exists() and not _leftovers(tmp_path)
    for cid, data in saved.items():
        (run / "conversations" / cid / "transcript.jsonl").write_bytes(data)
    assert cli("export", str(run), "--out", str(out), "-f", "nemo").returncode == 0


# --- 10. all or nothing ---------------------------------------------------------------------


def test_a_killed_export_leaves_nothing_and_the_retry_works(offline_run, tmp_path):
    out = tmp_path / "ds"
    proc = start("export", str(offline_run), "--out", str(out), "-f", "hf", "-f", "nemo", "-f", "lhotse",
                 "-f", "stereo")
    tmp = tmp_path / f".ds.export-{proc.pid}"
    deadline = time.monotonic() + 120
    while not tmp.is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the export ended before it could be killed: " + proc.stderr.read()
    time.sleep(0.3)  # mid-way through its files
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # no partial export where the user looks
    proc = cli("export", str(offline_run), "--out", str(out), "-f", "nemo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _leftovers(tmp_path) == []  # the killed export's hidden folder went with the retry
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_sigterm_removes_the_unfinished_export(offline_run, tmp_path):
    out = tmp_path / "ds"
    proc = start("export", str(offline_run), "--out", str(out), "-f", "hf", "-f", "nemo")
    tmp = tmp_path / f".ds.export-{proc.pid}"
    deadline = time.monotonic() + 120
    while not tmp.is_dir() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0 and not out.exists() and _leftovers(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs the test mounts (as root): one track of the shared run is larger."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_names_the_export_and_leaves_nothing(offline_run, small_disk):
    out = small_disk / "ds"
    line = one_line_error(cli("export", str(offline_run), "--out", str(out), "-f", "nemo"), "--out", str(out),
                          "no space left on device")
    assert str(offline_run) not in line  # not the run's source track
    assert list(small_disk.iterdir()) == []  # nothing left filling the disk


# --- 11. the run is read whole, from outside it ---------------------------------------------


def test_out_inside_the_run_is_refused(run):
    for out in (run, run / "export", run / "conversations" / "x"):
        one_line_error(cli("export", str(run), "--out", str(out), "-f", "rttm"), "--out", "inside the run")
    assert not (run / "export").exists() and not (run / "conversations" / "x").exists()


def test_a_run_a_writer_holds_is_refused(run, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; from synthconv.runfolder import RunLock; "
                               f"RunLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(cli("export", str(run), "--out", str(tmp_path / "ds"), "-f", "rttm"),
                       f"another synthconv (pid {holder.pid}) is writing this run")
        assert not (tmp_path / "ds").exists()
    finally:
        holder.kill()
        holder.wait()
    assert cli("export", str(run), "--out", str(tmp_path / "ds"), "-f", "rttm").returncode == 0


def test_an_export_holds_off_a_writer_while_it_reads(run, tmp_path):
    """Readers share the lock: an impair started during an export is refused, naming the export."""
    from synthconv.errors import RunFolderError
    from synthconv.runfolder import RunLock

    with RunLock(run, shared=True), RunLock(run, shared=True), \
            pytest.raises(RunFolderError, match=f"pid {os.getpid()}"):  # two exports at once are fine
        RunLock(run).acquire()
    RunLock(run).acquire().release()


def test_an_unfinished_run_is_exported_with_a_warning(run, tmp_path):
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "ended_at": None}))
    proc = cli("export", str(run), "--out", str(tmp_path / "ds"), "-f", "rttm")
    assert proc.returncode == 0 and "did not finish" in proc.stderr and "--resume" in proc.stderr
    assert len(read_jsonl(run / "conversations.jsonl")) == 4
