"""`synthconv export`: every format loads with the library people use it with, offline, and says
the same as the run (durations, segments, speakers, times), with splits that leak no speaker.
Lhotse's manifests are checked against ones real lhotse wrote (tests/export/lhotse_fixture/)."""

import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import pytest
from conftest import cli, one_line_error, read_jsonl

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def exported(offline_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "ds"
    proc = cli("export", str(offline_run), "--out", str(out), "-f", "hf", "-f", "nemo", "-f", "rttm", "-f", "lhotse",
               "-f", "stereo", "--split", "34/33/33", "--split-by", "conversation")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _transcripts(run) -> dict[str, list[dict]]:
    rows = read_jsonl(run / "conversations.jsonl")
    return {r["id"]: read_jsonl(run / "conversations" / r["id"] / "transcript.jsonl") for r in rows}


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def test_hf_loads_offline_and_matches_the_run(offline_run, exported, monkeypatch):
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    import datasets

    transcripts = _transcripts(offline_run)
    segments = datasets.load_dataset(str(exported), "segments", cache_dir=str(exported.parent / "cache"))
    assert set(segments) == {"train", "dev", "test"}
    rows = [r for split in segments.values() for r in split.cast_column("audio", datasets.Audio(decode=False))]
    assert len(rows) == sum(len(t) for t in transcripts.values())
    for r in rows:
        turn = transcripts[r["conversation_id"]][r["turn"]]
        assert (r["text"], r["role"], r["start"], r["end"]) == (turn["text"], turn["role"], turn["start"], turn["end"])
        assert (r["segment_id"], r["spoken"]) == (turn["segment_id"], turn["spoken"])
        assert (r["kind"], r["words"], r["disfluencies"]) == (turn["kind"], turn["words"], turn["disfluencies"])
        assert abs(_wav_seconds(r["audio"]["bytes"]) - (turn["end"] - turn["start"])) < 0.001
    convs = datasets.load_dataset(str(exported), "conversations", cache_dir=str(exported.parent / "cache"))
    for split in convs.values():
        split = split.cast_column("mix", datasets.Audio(decode=False))
        split = split.cast_column("tracks", datasets.List(datasets.Audio(decode=False)))
        for c in split:
            meta = json.loads((offline_run / "conversations" / c["id"] / "meta.json").read_text())
            assert c["duration_s"] == meta["duration_s"] and c["num_turns"] == sum(t["kind"] == "turn" for t in transcripts[c["id"]])
            assert c["speakers"] == [meta["personas"][r]["id"] for r in c["roles"]]
            for role, track in zip(c["roles"], c["tracks"]):
                assert track["bytes"] == (offline_run / "conversations" / c["id"] / "tracks" / f"{role}.wav").read_bytes()
            assert abs(_wav_seconds(c["mix"]["bytes"]) - meta["duration_s"]) < 0.001


def test_rttm_and_uem_match_the_turns(offline_run, exported):
    for cid, turns in _transcripts(offline_run).items():
        meta = json.loads((offline_run / "conversations" / cid / "meta.json").read_text())
        lines = (exported / "rttm" / f"{cid}.rttm").read_text().splitlines()
        assert len(lines) == len(turns)
        for line, t in zip(lines, turns):
            kind, file_id, channel, start, dur, _, _, speaker, _, _ = line.split()
            assert (kind, file_id, channel, speaker) == ("SPEAKER", cid, "1", meta["personas"][t["role"]]["id"])
            assert abs(float(start) - t["start"]) < 0.0006 and abs(float(dur) - (t["end"] - t["start"])) < 0.0011
        assert (exported / "rttm" / f"{cid}.uem").read_text().split() == [cid, "1", "0.000", f"{meta['duration_s']:.3f}"]


def test_nemo_manifests_point_at_audio_that_holds_the_turn(offline_run, exported):

    from synthconv.runfolder import loud, read_wav

    asr = sorted((exported / "nemo").glob("asr_en_*.jsonl"))
    lines = [(m, line) for m in asr for line in read_jsonl(m)]
    assert len(lines) == sum(len(t) for t in _transcripts(offline_run).values())
    for manifest, line in lines:
        pcm, rate = read_wav(manifest.parent / line["audio_filepath"])  # relative to the manifest
        a, b = int(line["offset"] * rate), int((line["offset"] + line["duration"]) * rate)
        assert b <= len(pcm) and loud(pcm[a:b]).mean() > 0.1  # the turn's speech is where it points
    for manifest in (exported / "nemo").glob("diarization_*.jsonl"):
        for line in read_jsonl(manifest):
            for key in ("audio_filepath", "rttm_filepath", "uem_filepath"):
                assert (manifest.parent / line[key]).is_file() and not os.path.isabs(line[key])
            assert line["num_speakers"] == 2


def test_checksums_verify_and_the_folder_moves(exported, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere"
    shutil.copytree(exported, moved, ignore=shutil.ignore_patterns("cache"))
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=moved, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len((moved / "SHA256SUMS").read_text().splitlines()) == sum(
        1 for p in moved.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    import datasets

    assert datasets.load_dataset(str(moved), "segments", cache_dir=str(tmp_path / "cache"))["train"].num_rows > 0


def test_the_card_describes_the_dataset(offline_run, exported):
    import yaml

    text = (exported / "README.md").read_text()
    _, header, body = text.split("---\n", 2)
    meta = yaml.safe_load(header)
    assert meta["license"] == "other" and meta["language"] == ["en"]
    assert {c["config_name"] for c in meta["configs"]} == {"segments", "conversations"}
    assert "espeak-ng (GPL-3.0-or-later" in body and "Apache-2.0" in body
    n = len(read_jsonl(offline_run / "conversations.jsonl"))
    assert f"- {n} conversations" in body and "| train | 1 |" in body
    assert "synthconv_cuts_<split>" in body or "synthconv_{recordings,supervisions,cuts}_<split>.jsonl.gz" in body
    assert "caller on the LEFT channel (0) and the agent on the RIGHT channel (1)" in body


def _conversations(n: int, seed: int):
    """n conversations in 10 communities of speakers that never meet (so persona splits are possible)."""
    import random

    from synthconv.export.source import Conversation

    rng = random.Random(seed)
    return [Conversation(id=f"s-{i:08x}", folder=None, scenario=f"sc{i % 20}", domain="d", language="en",
                         roles={"agent": f"agent-{i % 10}-{rng.randrange(2)}", "customer": f"cust-{i % 10}-{rng.randrange(5)}"},
                         speakers={}, locales={}, sample_rate=24000, duration_s=60.0, turns=[]) for i in range(n)]


@pytest.mark.parametrize("by", ["persona", "scenario", "conversation"])
def test_splits_keep_each_group_in_one_split_and_repeat(by):
    from synthconv.export.splits import assign, parse_split

    conversations = _conversations(120, seed=1)
    shares = parse_split("80/10/10")
    splits = assign(conversations, shares, by)
    assert splits == assign(list(reversed(conversations)), shares, by)  # the same, whatever the order
    key = {"persona": lambda c: c.roles.values(), "scenario": lambda c: [c.scenario], "conversation": lambda c: [c.id]}[by]
    seen: dict[str, set[str]] = {}
    for c in conversations:
        for k in key(c):
            seen.setdefault(k, set()).add(splits[c.id])
    assert all(len(s) == 1 for s in seen.values())  # nothing leaks
    counts = {s: list(splits.values()).count(s) for s in shares}
    assert counts == {"train": 96, "dev": 12, "test": 12}  # 10 communities, 20 scenarios: the shares can be met


@pytest.mark.parametrize("args,needle", [
    (["--split", "80/20"], "--split"), (["--split", "80/10/20"], "adds up to 110"),
    (["-f", "kaldi"], "--format"), (["--split-by", "voice"], "--split-by"), (["--split", "²/⁹⁸/0"], "--split"),
    (["--agent-role", "host", "-f", "stereo"], "--agent-role"),
])
def test_bad_export_flags_are_one_line(offline_run, tmp_path, args, needle):
    one_line_error(cli("export", str(offline_run), "--out", str(tmp_path / "x"), *args), needle)
    assert not (tmp_path / "x").exists()


def test_export_refuses_a_used_folder_and_a_non_run(offline_run, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "f").write_text("")
    one_line_error(cli("export", str(offline_run), "--out", str(tmp_path / "used")), "not an empty folder")
    one_line_error(cli("export", str(tmp_path / "used"), "--out", str(tmp_path / "x")), "no run.json")


def test_a_split_that_cannot_be_filled_is_said(offline_run, tmp_path):
    """3 conversations cannot fill 3 splits by scenario and persona at once: the export says which."""
    proc = cli("export", str(offline_run), "--out", str(tmp_path / "x"), "-f", "rttm", "--split", "90/5/5")
    assert proc.returncode == 0, proc.stderr
    assert "warning: --split:" in proc.stderr and "is empty" in proc.stderr


def test_hf_is_written_a_row_group_at_a_time_and_loads_whole(offline_run, tmp_path, monkeypatch):
    """Rows carry audio: a split is streamed to parquet in row groups, never held whole (a
    200-conversation export peaked at 9 GB that way)."""
    import pyarrow.parquet as pq

    from synthconv.export import formats

    monkeypatch.setattr(formats._ParquetSink.__init__, "__defaults__", (1,))  # flush after every row
    out = tmp_path / "ds"
    assert cli("export", str(offline_run), "--out", str(out), "--split", "100/0/0").returncode == 0
    turns = sum(len(t) for t in _transcripts(offline_run).values())
    assert pq.ParquetFile(out / "data" / "segments" / "train.parquet").num_row_groups == turns
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    import datasets

    assert datasets.load_dataset(str(out), "segments", cache_dir=str(tmp_path / "cache"))["train"].num_rows == turns


# --- Lhotse --------------------------------------------------------------------------------

LHOTSE = Path(__file__).resolve().parent / "lhotse_fixture"


def _jsonl_gz(path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def test_lhotse_manifests_are_what_lhotse_writes(tmp_path):
    """The fixture run exported: each manifest, line for line and byte for byte once unzipped,
    is the one lhotse 1.33 wrote for it (tests/export/lhotse_fixture/make_golden.py)."""
    out, run = tmp_path / "ds", tmp_path / "run"
    shutil.copytree(LHOTSE / "run", run)  # the export takes the run's lock: not in the source tree
    proc = cli("export", str(run), "--out", str(out), "-f", "lhotse", "--split", "50/25/25",
               "--split-by", "conversation")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    golden = sorted(p.name for p in (LHOTSE / "golden").iterdir())
    assert sorted(p.name for p in (out / "lhotse").iterdir()) == golden and len(golden) == 9
    for name in golden:
        assert _jsonl_gz(out / "lhotse" / name) == _jsonl_gz(LHOTSE / "golden" / name), name


def test_lhotse_manifests_hold_every_turn_of_the_run(offline_run, exported):
    from synthconv.runfolder import loud, read_wav

    transcripts = _transcripts(offline_run)
    splits = {p.name.rsplit("_", 1)[1].split(".")[0] for p in (exported / "lhotse").iterdir()}
    assert splits == {"train", "dev", "test"}
    recordings, supervisions = {}, []
    for split in splits:
        rows = [json.loads(line) for line in _jsonl_gz(exported / "lhotse" / f"synthconv_recordings_{split}.jsonl.gz")]
        for r in rows:
            source = r["sources"][0]["source"]
            assert not os.path.isabs(source)  # relative to the export folder
            pcm, rate = read_wav(exported / source)
            assert (r["sampling_rate"], r["num_samples"], r["duration"]) == (rate, len(pcm), len(pcm) / rate)
            recordings[r["id"]] = (r, pcm)
        sups = [json.loads(line) for line in _jsonl_gz(exported / "lhotse" / f"synthconv_supervisions_{split}.jsonl.gz")]
        cuts = [json.loads(line) for line in _jsonl_gz(exported / "lhotse" / f"synthconv_cuts_{split}.jsonl.gz")]
        assert [c["recording"] for c in cuts] == rows and sum(len(c["supervisions"]) for c in cuts) == len(sups)
        supervisions += sups
    assert len(recordings) == 3 * len(transcripts)  # two tracks and the mix each
    assert len(supervisions) == sum(len(t) for t in transcripts.values())
    for s in supervisions:
        cid = s["custom"]["conversation_id"]
        turn = next(t for t in transcripts[cid] if t["segment_id"] == s["id"])
        assert (s["recording_id"], s["text"], s["start"]) == (f"{cid}-{turn['role']}", turn["text"], turn["start"])
        assert abs(s["start"] + s["duration"] - turn["end"]) < 0.0006
        assert [w[0] for w in s["alignment"]["word"]] == [w["word"] for w in turn["words"]]
        _, pcm = recordings[s["recording_id"]]
        a, b = int(s["start"] * 24000), int((s["start"] + s["duration"]) * 24000)
        assert b <= len(pcm) and loud(pcm[a:b]).mean() > 0.1  # the turn's speech is there


# --- caller/agent stereo --------------------------------------------------------------------


def _info(path) -> dict[str, str]:
    """The LIST/INFO fields of a WAV file, read chunk by chunk."""
    data, fields, at = path.read_bytes(), {}, 12
    while at < len(data):
        kind, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        if kind == b"LIST" and data[at + 8:at + 12] == b"INFO":
            sub = at + 12
            while sub < at + 8 + size:
                key, n = data[sub:sub + 4].decode(), struct.unpack("<I", data[sub + 4:sub + 8])[0]
                fields[key] = data[sub + 8:sub + 8 + n].rstrip(b"\0").decode("utf-8")
                sub += 8 + n + n % 2
        at += 8 + size + size % 2
    return fields


def test_stereo_puts_the_caller_left_and_the_agent_right(offline_run, exported):
    import numpy as np

    from synthconv.runfolder import read_wav

    files = sorted((exported / "stereo").glob("*/*.wav"))
    assert len(files) == len(_transcripts(offline_run))
    lines = {line["conversation_id"]: line for m in (exported / "stereo").glob("*.jsonl") for line in read_jsonl(m)}
    for path in files:
        cid = path.stem
        meta = json.loads((offline_run / "conversations" / cid / "meta.json").read_text())
        agent = next(r for r in ("agent", "dispatcher") if r in meta["personas"])
        (caller,) = [r for r in meta["personas"] if r != agent]
        with wave.open(str(path)) as w:  # the stdlib reader: 16-bit PCM, two channels
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, meta["sample_rate"])
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        folder = offline_run / "conversations" / cid / "tracks"
        np.testing.assert_array_equal(frames[:, 0], read_wav(folder / f"{caller}.wav")[0])
        np.testing.assert_array_equal(frames[:, 1], read_wav(folder / f"{agent}.wav")[0])
        assert _info(path)["ICMT"] == (f"left: {caller} (caller, {meta['personas'][caller]['id']}); "
                                       f"right: {agent} (agent, {meta['personas'][agent]['id']})")
        line = lines[cid]
        assert (exported / "stereo" / line["audio_filepath"]) == path
        assert (line["left"]["side"], line["left"]["role"], line["right"]["role"]) == ("caller", caller, agent)
    try:
        import soundfile
    except ImportError:
        return
    data, rate = soundfile.read(str(files[0]), dtype="int16")
    assert data.shape[1] == 2 and rate == 24000


def test_stereo_takes_the_agent_role_the_user_names(tmp_path):
    """A scenario of the user's own with other role names: --agent-role says which goes right."""
    out, run = tmp_path / "ds", tmp_path / "run"
    shutil.copytree(LHOTSE / "run", run)
    proc = cli("export", str(run), "--out", str(out), "-f", "stereo", "--split", "100/0/0",
               "--agent-role", "customer", "--agent-role", "driver")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line["conversation_id"]: line for line in read_jsonl(out / "stereo" / "train.jsonl")}
    assert lines["wrong-delivery-address-5e6f7a8b"]["right"]["role"] == "driver"
    assert lines["appointment-booking-1a2b3c4d"]["right"]["role"] == "customer"
