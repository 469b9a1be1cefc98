"""The voice catalog and provenance: `synthconv voices`, `voices download`, meta.json's voices and
the dataset card's Voices section."""

import functools
import http.server
import json
import threading

import piper_model
import pytest
from conftest import cli, one_line_error, read_jsonl


def test_voices_lists_the_shipped_voice_with_its_licence_and_restriction():
    proc = cli("voices")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "en_US-joe-medium" in line)
    assert "en-US" in row and "male" in row and "22050" in row and "CC0" in row and "yes" in row
    assert "GPL-3.0-or-later" in proc.stdout  # piper-tts's licence, as espeak-ng's
    assert "restricted: en_US-joe-medium: fine-tuned from Piper's en_US lessac voice" in proc.stdout


def test_a_voices_dir_adds_every_speaker_of_a_model_with_its_facts(tmp_path):
    piper_model.build(tmp_path, facts={"piper": {"en_US-tiny": {"licence": "CC-BY-4.0", "speakers": {
        "alice": {"gender": "female", "age": "18-29"}}}}})
    (tmp_path / "orphan.onnx").write_bytes(b"not a model")
    proc = cli("voices", "--voices-dir", str(tmp_path), "--language", "en")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line for line in proc.stdout.splitlines() if "en_US-tiny" in line}
    assert set(rows) == {"en_US-tiny-x_low:alice", "en_US-tiny-x_low:bob", "en_US-tiny-x_low:carol"}
    assert "female" in rows["en_US-tiny-x_low:alice"] and "18-29" in rows["en_US-tiny-x_low:alice"]
    assert "CC-BY-4.0" in rows["en_US-tiny-x_low:bob"]
    assert "orphan.onnx: no orphan.onnx.json beside it" in proc.stderr


@pytest.mark.parametrize("text, needle", [("piper: [1, 2]\n", "field piper"),
                                          ("piper:\n  en_US-x: {gender: robot}\n", "gender"),
                                          ("openai:\n  - {gender: male}\n", "openai.0.name"),
                                          ("speakers: 3\n", "expected a mapping with")])
def test_a_bad_catalog_file_is_one_line(tmp_path, text, needle):
    (tmp_path / "voices.yaml").write_text(text)
    line = one_line_error(cli("voices", "--voices-dir", str(tmp_path)), needle)
    assert str(tmp_path / "voices.yaml") in line
    one_line_error(cli("generate", "--count", "1", "--voices-dir", str(tmp_path), "--out", str(tmp_path / "o")),
                   needle)


def test_a_missing_voices_dir_is_one_line(tmp_path):
    one_line_error(cli("voices", "--voices-dir", str(tmp_path / "nope")), "no such voice folder")
    one_line_error(cli("generate", "--count", "1", "--voices-dir", str(tmp_path / "nope"),
                       "--out", str(tmp_path / "o")), "--voices-dir", "no such folder")


class _Mirror(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: ANN002
        pass


def test_voices_download_fetches_a_voice_from_a_mirror_and_fails_in_one_line_without_one(tmp_path):
    """piper's downloader against a loopback mirror laid out as the piper-voices repository."""
    repo = tmp_path / "mirror" / "en" / "en_US" / "tiny" / "x_low"
    piper_model.build(repo)
    (repo / "MODEL_CARD").write_text("# Model card\n\n## Dataset\n\n* License: CC-BY-NC-4.0\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Mirror, directory=str(tmp_path / "mirror")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{server.server_address[1]}"
        voices = tmp_path / "voices"
        proc = cli("voices", "download", "en_US-tiny-x_low", "--voices-dir", str(voices), "--mirror", mirror)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(p.name for p in voices.iterdir()) == [
            "en_US-tiny-x_low.MODEL_CARD", "en_US-tiny-x_low.onnx", "en_US-tiny-x_low.onnx.json"]
        listed = cli("voices", "--voices-dir", str(voices)).stdout
        row = next(line for line in listed.splitlines() if "en_US-tiny-x_low:bob" in line)
        assert "CC-BY-NC-4.0" in row and "yes" in row  # a non-commercial licence is flagged
        # nothing listens here: one line, exit 1, and no partial file left in the folder
        server.shutdown()
        proc = cli("voices", "download", "en_US-other-low", "--voices-dir", str(voices), "--mirror", mirror,
                   "--timeout", "5")
        assert proc.returncode == 1
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "could not fetch en_US-other-low" in lines[0] and "--voices-dir" in lines[0]
        assert not [p for p in voices.iterdir() if "other" in p.name or p.name.startswith(".")]
    finally:
        server.server_close()
    one_line_error(cli("voices", "download", "lessac", "--voices-dir", str(tmp_path / "v")), "not a Piper voice name")


def test_meta_json_names_each_role_s_voice_and_the_card_lists_them(offline_run, tmp_path):
    ok = [r for r in read_jsonl(offline_run / "conversations.jsonl") if r["status"] == "ok"]
    assert ok
    shared = 0
    for r in ok:
        meta = json.loads((offline_run / "conversations" / r["id"] / "meta.json").read_text())
        for role, v in meta["voices"].items():
            assert {"engine", "engine_licence", "model", "speaker", "licence"} <= set(v), v
            if v["engine"] == "piper":
                assert (v["model"], v["voice"], v["speaker"]) == ("en_US-joe-medium", "en_US-joe-medium", None)
                assert v["engine_licence"].startswith("GPL-3.0-or-later") and "lessac" in v["restricted"]
                assert meta["personas"][role]["voice"]["piper"]["pitch"] == v["pitch"]
        if "voices_shared" in meta:
            shared += 1
            pitch = meta["voices_shared"]["told_apart_by"]["pitch"]
            assert set(pitch) == set(meta["voices"]) and abs(list(pitch.values())[0] - list(pitch.values())[1]) >= 2.5
    assert shared  # the default catalog has one English voice: both roles speak with it
    out = tmp_path / "export"
    assert cli("export", str(offline_run), "--out", str(out), "-f", "rttm").returncode == 0
    card = (out / "README.md").read_text()
    voices = card.split("## Voices", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in voices.splitlines() if "en_US-joe-medium" in line)
    assert row.startswith("| piper |") and "CC0" in row and "**yes**" in row and "lessac" in row
    assert "told apart by pitch" in voices
    assert "Piper (piper-tts, GPL-3.0-or-later)" in card.replace("\n  ", " ")
