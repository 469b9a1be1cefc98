"""`synthconv inspect` on a complete, an in-progress and a damaged run."""

import json
import shutil
import wave

from conftest import cli, read_jsonl


def test_complete_run_summary_and_validation(offline_run):
    proc = cli("inspect", str(offline_run), "--validate", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["state"] == "complete" and s["planned"] == 3 and s["by_status"] == {"ok": 3}
    assert s["problems"] == {} and s["duration_s"]["total"] > 60 and s["turns"]["mean"] >= 6
    assert sum(c["ok"] for c in s["by_scenario"].values()) == 3
    human = cli("inspect", str(offline_run))
    assert human.returncode == 0 and "complete" in human.stdout and "by persona" in human.stdout
    metas = [json.loads((offline_run / "conversations" / c / "meta.json").read_text())
             for c in (r["id"] for r in read_jsonl(offline_run / "conversations.jsonl"))]
    mean = sum(m["wer"] for m in metas) / 3
    assert s["wer"]["conversations"] == 3 and abs(s["wer"]["mean"] - mean) < 1e-3
    assert s["wer"]["min"] <= s["wer"]["median"] <= s["wer"]["max"]
    assert f"mean WER {mean:.1%} over 3 conversations" in " ".join(human.stdout.split())


def test_one_conversation_as_a_timed_transcript(offline_run):
    cid = read_jsonl(offline_run / "conversations.jsonl")[0]["id"]
    proc = cli("inspect", str(offline_run), cid)
    assert proc.returncode == 0
    turns = read_jsonl(offline_run / "conversations" / cid / "transcript.jsonl")
    first = turns[0]
    assert f"{first['start']:7.2f}" in proc.stdout and first["speaker"] in proc.stdout
    meta = json.loads((offline_run / "conversations" / cid / "meta.json").read_text())
    shown = " ".join(proc.stdout.split())  # as read, wherever the terminal wrapped it
    assert f"mean WER {meta['wer']:.1%}" in shown and "whisper" in shown
    misheard = next(t for t in turns if t["heard"] not in (None, t["text"]))
    assert f"(heard: {' '.join(misheard['heard'].split())}; WER {misheard['wer']:.1%})" in shown
    as_json = json.loads(cli("inspect", str(offline_run), cid, "--json").stdout)
    assert as_json["wer"] == meta["wer"] and as_json["transcript"][0]["wer"] == first["wer"]
    assert cli("inspect", str(offline_run), "nope").returncode == 2


def test_in_progress_run(offline_run, tmp_path):
    run = tmp_path / "running"
    shutil.copytree(offline_run, run)
    info = json.loads((run / "run.json").read_text())
    info["ended_at"] = None
    (run / "run.json").write_text(json.dumps(info))
    (run / "conversations.jsonl").unlink()
    shutil.rmtree(run / "conversations" / info["jobs"][2]["id"])
    proc = cli("inspect", str(run), "--validate", "--json")
    assert proc.returncode == 0, proc.stdout
    s = json.loads(proc.stdout)
    assert s["state"] == "running or killed" and s["by_status"] == {"ok": 2, "pending": 1}


def test_damaged_run_names_each_conversation_and_problem(offline_run, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(offline_run, run)
    a, b, c = (r["id"] for r in read_jsonl(run / "conversations.jsonl"))
    wav = next((run / "conversations" / a / "tracks").glob("*.wav"))
    with wave.open(str(wav)) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes() // 2)
    with wave.open(str(wav), "wb") as w:  # truncated track
        w.setparams(params)
        w.writeframes(frames)
    (run / "conversations" / b / "mix.mp3").unlink()
    path = run / "conversations" / c / "transcript.jsonl"
    lines = path.read_text().splitlines()
    t = json.loads(lines[2])
    t["end"] = t["start"] - 1
    path.write_text("\n".join([*lines[:2], json.dumps(t), *lines[3:]]) + "\n")
    proc = cli("inspect", str(run), "--validate")
    assert proc.returncode == 1
    out = proc.stdout
    assert f"{a}: tracks have different lengths" in out
    assert f"{b}: missing mix.mp3" in out
    assert f"{c}: transcript.jsonl line 3: end" in out and "before start" in out
    s = json.loads(cli("inspect", str(run), "--validate", "--json").stdout)
    assert set(s["problems"]) == {a, b, c}


def test_not_a_run_folder(tmp_path):
    proc = cli("inspect", str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
