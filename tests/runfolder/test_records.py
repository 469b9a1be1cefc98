"""Self-describing records (format 1.2): every transcript line says whose it is and how it is
said, meta.json holds the facts drawn, run.json holds no absolute path, and the stereo mix has
one role per channel."""

import json
import subprocess

import numpy as np
import pytest
from conftest import read_jsonl

from synthconv.runfolder import read_wav
from synthconv.runfolder.audio import ffmpeg_exe
from synthconv.runfolder.spoken import spoken_form


def _conversations(run):
    for row in read_jsonl(run / "conversations.jsonl"):
        folder = run / "conversations" / row["id"]
        yield folder, json.loads((folder / "meta.json").read_text()), read_jsonl(folder / "transcript.jsonl")


def test_turns_carry_their_ids_language_and_spoken_form(offline_run):
    digits = 0
    for _folder, meta, turns in _conversations(offline_run):
        for t in turns:
            persona = meta["personas"][t["role"]]
            assert t["segment_id"] == f"{meta['id']}-{t['turn']:04d}"
            assert (t["persona_id"], t["language"], t["locale"]) == (persona["id"], persona["language"], persona["locale"])
            assert t["spoken"] == spoken_form(t["text"], t["language"])
            if any(c.isdigit() for c in t["text"]):
                digits += 1
                assert not any(c.isdigit() for c in t["spoken"]), t["spoken"]
    assert digits > 0, "no turn with a number: the spoken form was not exercised"


def test_meta_has_the_facts_drawn(offline_run):
    from synthconv.scenario import draw_facts, load_library

    lib = load_library()
    for _folder, meta, turns in _conversations(offline_run):
        facts = meta["facts"]
        played = lib.scenarios[meta["scenario"]["id"]]
        if meta.get("branch"):  # a branch's own facts are drawn too
            played = played.play(next(b for b in played.branches if b.id == meta["branch"]["id"]))
        assert facts == draw_facts(played, meta["seed"])
        assert set(facts) == set(meta["personas"])
        said = " ".join(t["text"] for t in turns)
        assert any(v in said for role in facts.values() for v in role.values())  # the facts are the call's


def test_run_json_has_no_absolute_path(offline_run):
    info = json.loads((offline_run / "run.json").read_text())

    def strings(v):
        if isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)
        elif isinstance(v, str):
            yield v
    assert not [s for s in strings(info) if s.startswith("/")]
    assert info["flags"]["out"] == "." and set(info["machine_local"]) == {"scenarios_dir", "personas_dir"}
    assert (offline_run / info["flags"]["scenarios_dir"]).resolve().is_dir()


def test_stereo_mix_has_one_role_per_channel_in_role_order(offline_run):
    folder, meta, turns = next(_conversations(offline_run))
    roles = list(meta["personas"])
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(folder / "mix_stereo.mp3"), "-f", "s16le",
                          "-ac", "2", "-ar", "24000", "-"], capture_output=True, check=True).stdout
    stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2).astype(np.float64)
    assert abs(len(stereo) / 24000 - meta["duration_s"]) < 0.15
    for ch, role in enumerate(roles):
        peer, _ = read_wav(folder / "tracks" / f"{roles[1 - ch]}.wav")
        for t in (t for t in turns if t["role"] == role and t["end"] - t["start"] > 1):
            a, b = int(t["start"] * 24000) + 1200, int(t["end"] * 24000)  # mp3 delay: skip 50 ms
            alone = np.convolve(np.abs(peer[a:b]) > 64, np.ones(4800), "same") == 0  # peer silent for ±0.1 s
            if alone.sum() < 12000:
                continue  # overlapped by the peer (a backchannel, an interruption) most of the time
            own, other = np.mean(stereo[a:b, ch][alone] ** 2), np.mean(stereo[a:b, 1 - ch][alone] ** 2)
            assert own > 100 * max(other, 1), (role, t["turn"], own, other)  # the other channel is silent


@pytest.mark.parametrize("text, language, spoken", [
    ("That's $49.99, reference RF-2291.", "en", "That's forty nine dollars and ninety nine cents, reference R F two two nine one."),
    ("Call 555 0142 at 10:30 or 9:05 on the 3rd.", "en", "Call five five five zero one four two at ten thirty or nine oh five on the third."),
    ("40% off since 2019, order 55812, I-40 at mile 92.", "en-US",
     "forty percent off since twenty nineteen, order five five eight one two, I forty at mile ninety two."),
    ("मेरा बिल ₹499 है", "hi", None),
])
def test_spoken_form(text, language, spoken):
    assert spoken_form(text, language) == spoken


def test_a_language_num2words_lacks_keeps_its_text():
    from synthconv.runfolder.conversation import turn_record

    meta = {"id": "x-0123abcd", "personas": {"caller": {"id": "p-raj", "language": "hi", "locale": "hi-IN"}}}
    turn = {"turn": 7, "role": "caller", "text": "मेरा बिल ₹499 है"}
    assert turn_record(turn, meta) == {**turn, "segment_id": "x-0123abcd-0007", "persona_id": "p-raj",
                                       "language": "hi", "locale": "hi-IN", "spoken": "मेरा बिल ₹499 है"}
