"""A run folder is data: no reader follows a symbolic link inside it (issue 24). A track that
points at another file is reported as a link, never read, served or rewritten as audio."""

import json
import shutil

from conftest import cli, read_jsonl


def test_a_linked_track_is_reported_not_read(offline_run, tmp_path):
    run = tmp_path / "linked"
    shutil.copytree(offline_run, run)
    secret = tmp_path / "secret.json"
    secret.write_text('{"api_key": "sk-not-audio"}')
    cid = read_jsonl(run / "conversations.jsonl")[0]["id"]
    track = next((run / "conversations" / cid / "tracks").glob("*.wav"))
    track.unlink()
    track.symlink_to(secret)
    proc = cli("inspect", str(run), "--validate", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = json.loads(proc.stdout)["problems"]
    assert "symbolic link" in " ".join(problems[cid]), problems
    assert "sk-not-audio" not in proc.stdout + proc.stderr
    assert set(problems) == {cid}  # the other conversations are still checked and valid


def test_a_linked_conversations_folder_is_refused(offline_run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(offline_run / "conversations", elsewhere)
    run = tmp_path / "linked"
    shutil.copytree(offline_run, run, ignore=shutil.ignore_patterns("conversations"))
    (run / "conversations").symlink_to(elsewhere)
    proc = cli("inspect", str(run), "--validate", "--json")
    assert proc.returncode != 0
    assert "symbolic link" in proc.stdout + proc.stderr
