"""Hardening, round two (issue 24) for generate, the library and inspect: each class of hostile
or damaged input, through the real command."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, _env, cli, one_line_error, read_jsonl


@pytest.fixture
def run_copy(offline_run, tmp_path) -> Path:
    return Path(shutil.copytree(offline_run, tmp_path / "run"))


def _refund_only(tmp_path: Path, edit) -> Path:  # noqa: ANN001
    sc = tmp_path / "sc"
    sc.mkdir()
    (sc / "refund.yaml").write_text(edit((ROOT / "scenarios" / "refund.yaml").read_text()))
    return sc


def test_yaml_aliases_cannot_blow_past_the_size_limit(tmp_path):
    """A 200 kB file whose aliases expand to 200 MB is refused before anything is built; the
    library's own files, which share fact lists by alias, still load."""
    big = "x" * 200_000
    sc = _refund_only(tmp_path, lambda t: t.replace(
        "outcome:", f'outcome: [&s "{big}", ' + ", ".join(["*s"] * 999) + "]\nold_outcome:", 1))
    assert (sc / "refund.yaml").stat().st_size < 300_000
    one_line_error(cli("scenarios", "--scenarios-dir", str(sc)), "refund.yaml", "aliases")
    assert "car-insurance-claim" in cli("scenarios").stdout  # uses `*car` to share a fact list


def test_a_scenario_that_can_never_run_is_reported_by_scenarios(tmp_path):
    sc = _refund_only(tmp_path, lambda t: t.replace("turns: {min: 6, max: 16}", "turns: {min: 40, max: 60}", 1))
    one_line_error(cli("scenarios", "--scenarios-dir", str(sc)), "refund.yaml", "turns.min")


def test_resume_never_imports_code_a_run_folder_names(run_copy, tmp_path):
    """run.json naming `tempfile:mkdtemp` as the engine: refused, and nothing it would do is done."""
    info = json.loads((run_copy / "run.json").read_text())
    info["flags"].update(engine="tempfile:mkdtemp", hearing=None)
    info["ended_at"] = None
    (run_copy / "run.json").write_text(json.dumps(info))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run([sys.executable, "-m", "synthconv.cli", "generate", "--resume", str(run_copy)],
                          capture_output=True, text=True, env=_env({"TMPDIR": str(scratch)}), cwd=ROOT)
    one_line_error(proc, "tempfile:mkdtemp", "--engine")
    assert list(scratch.iterdir()) == []
    # given on the command line, a plugin that is not an Engine is refused before it is called
    proc = subprocess.run([sys.executable, "-m", "synthconv.cli", "generate", "--engine", "tempfile:mkdtemp",
                           "--count", "1", "--out", str(tmp_path / "new")],
                          capture_output=True, text=True, env=_env({"TMPDIR": str(scratch)}), cwd=ROOT)
    one_line_error(proc, "--engine", "not a synthconv Engine")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_reports_survive_any_stdout_encoding(offline_run, encoding):
    cid = read_jsonl(offline_run / "conversations.jsonl")[0]["id"]
    for args in ([str(offline_run), cid], [str(offline_run)], [str(offline_run), cid, "--json"]):
        proc = subprocess.run([sys.executable, "-m", "synthconv.cli", "inspect", *args], capture_output=True,
                              env=_env({"PYTHONIOENCODING": encoding}), cwd=ROOT)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert b"Traceback" not in proc.stderr
    json.loads(proc.stdout.decode(encoding))  # still JSON, non-ASCII escaped


def test_validate_never_says_all_valid_when_nothing_was_checked(run_copy):
    rows = read_jsonl(run_copy / "conversations.jsonl")
    for r in rows:
        shutil.rmtree(run_copy / "conversations" / r["id"])
        (run_copy / "conversations" / r["id"]).mkdir()
        (run_copy / "conversations" / r["id"] / "error.txt").write_text("RuntimeError: boom\n")
    (run_copy / "conversations.jsonl").write_text("".join(
        json.dumps({**r, "status": "failed", "duration_s": None, "turns": None, "error": "RuntimeError: boom"}) + "\n"
        for r in rows))
    proc = cli("inspect", str(run_copy), "--validate", "--json")
    assert proc.returncode == 1
    assert "no complete conversation" in " ".join(json.loads(proc.stdout)["problems"]["run"])


def test_a_complete_conversation_missing_a_file_is_found_and_redone_on_resume(run_copy):
    rows = read_jsonl(run_copy / "conversations.jsonl")
    (run_copy / "conversations" / rows[0]["id"] / "mix_stereo.mp3").unlink()
    proc = cli("inspect", str(run_copy), "--validate", "--json")
    assert proc.returncode == 1
    assert "missing mix_stereo.mp3" in json.loads(proc.stdout)["problems"][rows[0]["id"]]
    (run_copy / "conversations" / rows[0]["id"] / "mix.mp3").unlink()
    info = json.loads((run_copy / "run.json").read_text())
    info["ended_at"] = None
    (run_copy / "run.json").write_text(json.dumps(info))
    resumed = cli("generate", "--resume", str(run_copy))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 conversations" in " ".join(resumed.stdout.split()) or (run_copy / "conversations" / rows[0]["id"] /
                                                                      "mix.mp3").is_file()
    assert (run_copy / "conversations" / rows[0]["id"] / "mix.mp3").is_file()
    assert cli("inspect", str(run_copy), "--validate").returncode == 0


@pytest.mark.parametrize("damage", [
    lambda t: {**t, "start": "1.0"},
    lambda t: {**t, "role": ["agent"]},
    lambda t: {k: v for k, v in t.items() if k != "start"},
])
def test_a_damaged_transcript_line_is_a_problem_not_a_crash(run_copy, damage):
    rows = read_jsonl(run_copy / "conversations.jsonl")
    path = run_copy / "conversations" / rows[0]["id"] / "transcript.jsonl"
    lines = read_jsonl(path)
    lines[2] = damage(lines[2])
    path.write_text("".join(json.dumps(t) + "\n" for t in lines))
    proc = cli("inspect", str(run_copy), "--validate", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert any("line 3" in p for p in report["problems"][rows[0]["id"]])
    assert set(report["problems"]) == {rows[0]["id"]}  # the others are still checked, and valid
    shown = cli("inspect", str(run_copy), rows[0]["id"])
    one_line_error(shown, "transcript.jsonl", "line 3")
