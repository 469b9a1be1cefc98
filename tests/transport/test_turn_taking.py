"""Natural turn-taking on the local bridge, checked against the WAV samples: overlaps, backchannels,
interruptions, words and disfluencies (docs/FORMAT.md 1.2)."""

import json
import shutil

import numpy as np
import pytest
import yaml
from conftest import cli, read_jsonl

from synthconv.runfolder import loud, read_wav
from synthconv.runfolder.labels import disfluencies, turn_taking
from synthconv.runfolder.validate import validate_conversation
from synthconv.scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, OfflineVoice


def conversations(run):
    for r in read_jsonl(run / "conversations.jsonl"):
        folder = run / "conversations" / r["id"]
        tracks = {p.stem: read_wav(p)[0] for p in (folder / "tracks").glob("*.wav")}
        yield folder, read_jsonl(folder / "transcript.jsonl"), tracks, json.loads((folder / "meta.json").read_text())


def speech(pcm, a, b, rate=24000):
    return loud(pcm[int(a * rate) : int(b * rate)]).mean() if b > a else 0.0


@pytest.fixture(scope="module")
def cut_off_run(tmp_path_factory):
    """Two conversations of a scenario tuned to interrupt often (turn_taking.interruptions)."""
    tmp = tmp_path_factory.mktemp("interrupting")
    scenarios = tmp / "scenarios"
    scenarios.mkdir()
    sc = yaml.safe_load((DEFAULT_SCENARIOS / "billing-dispute.yaml").read_text())
    sc["turn_taking"] = {"interruptions": 4.0}
    (scenarios / "billing-dispute.yaml").write_text(yaml.safe_dump(sc, allow_unicode=True))
    out = tmp / "run"
    proc = cli("generate", "--count", "2", "--seed", "5", "--concurrency", "2", "--out", str(out),
               "--scenarios-dir", str(scenarios), "--personas-dir", str(DEFAULT_PERSONAS),
               "--hearing", "transcript")  # so the peer's `heard` is exactly the words that got out
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_natural_is_the_default_and_its_events_are_in_the_audio(offline_run):
    seen = {"overlap": 0, "backchannel": 0, "words": 0}
    for folder, lines, tracks, meta in conversations(offline_run):
        assert meta["turn_taking"] == "natural" and meta["word_timing"] == "engine"
        assert validate_conversation(folder, check_mp3=False) == []
        turns = [t for t in lines if t["kind"] == "turn"]
        assert meta["turns"] == len(turns)
        for a, b in zip(turns, turns[1:]):
            if b["start"] < a["end"]:  # an overlap: both tracks speak in it
                seen["overlap"] += 1
                least = 0.1 if a["end"] - b["start"] >= 0.2 else 0.0  # a few ms can be a word's fading tail
                assert speech(tracks[a["role"]], b["start"], a["end"]) > least
                assert speech(tracks[b["role"]], b["start"], a["end"]) > least
        for bc in (t for t in lines if t["kind"] == "backchannel"):
            seen["backchannel"] += 1
            assert len(bc["text"].split()) <= 2 and bc["heard"] is None
            assert any(t["role"] != bc["role"] and t["start"] <= bc["start"] and bc["end"] <= t["end"] for t in turns)
            assert speech(tracks[bc["role"]], bc["start"], bc["end"]) > 0.3
        for t in lines:
            for w in t["words"]:
                seen["words"] += 1
                assert t["start"] - 0.01 <= w["start"] < w["end"] <= t["end"] + 0.01
                assert speech(tracks[t["role"]], w["start"], w["end"]) > 0.2, (t["turn"], w)
            words = [w["word"] for w in t["words"]]
            assert words == [x.strip(".,;:!?\"'()—–-।") for x in t["text"].split()], t
        labels = meta["labels"]
        assert labels == turn_taking(lines, tracks, 24000)  # what inspect recomputes
        assert abs(sum(labels["speaking_share"].values()) - 1) < 0.01
    assert seen["overlap"] and seen["backchannel"] and seen["words"] > 100, seen


def test_an_interrupted_turn_really_stops_and_is_repaired(cut_off_run):
    cuts = repairs = 0
    for folder, lines, tracks, _meta in conversations(cut_off_run):
        assert validate_conversation(folder, check_mp3=False) == []
        turns = [t for t in lines if t["kind"] == "turn"]
        for i, t in enumerate(turns):
            if not t["interrupted"]:
                assert t["intended"] is None
                continue
            cuts += 1
            said, meant = t["text"].split(), t["intended"].split()
            assert 0 < len(said) < len(meant) and meant[: len(said) - 1] == said[:-1]
            nxt = turns[i + 1]
            assert nxt["role"] != t["role"] and nxt["start"] < t["end"]  # the peer cut in
            assert 0.1 <= t["end"] - nxt["start"] <= 0.5  # and the speaker stopped soon after
            own = tracks[t["role"]]
            assert speech(own, t["end"] - 0.3, t["end"]) > 0  # speaking right up to the cut
            later = min([u["start"] for u in lines if u["role"] == t["role"] and u["start"] > t["start"]] + [t["end"] + 1])
            assert speech(own, t["end"] + 0.005, later - 0.005) == 0  # and silent after it
            assert nxt["heard"] is not None and turns[i]["heard"] == t["text"]  # the peer heard only that
            # its next turn says the line again ("As I was saying, ..."), unless the call is ending or
            # the peer's cut-in asked about a number first (repair.py answers that before anything)
            again = next((u for u in turns[i + 1 :] if u["role"] == t["role"]), None)
            if again is not None and again["text"].split(",")[0] in ("As I was saying", "Let me just finish",
                                                                      "Like I said", "Anyway"):
                repairs += 1
    assert cuts >= 2 and repairs >= 1


def test_strict_keeps_the_chess_clock(tmp_path):
    out = tmp_path / "strict"
    proc = cli("generate", "--count", "1", "--seed", "7", "--turn-taking", "strict", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "run.json").read_text())["flags"]["turn_taking"] == "strict"
    for folder, lines, _tracks, meta in conversations(out):
        assert meta["turn_taking"] == "strict" and validate_conversation(folder, check_mp3=False) == []
        assert all(t["kind"] == "turn" and not t["interrupted"] for t in lines)
        assert all(d["type"] == "filler" for t in lines for d in t["disfluencies"])
        for a, b in zip(lines, lines[1:]):
            assert 0.14 <= b["start"] - a["end"] <= 0.81


def test_unknown_turn_taking_is_one_line(tmp_path):
    proc = cli("generate", "--count", "1", "--turn-taking", "chaotic", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "--turn-taking" in proc.stderr and "Traceback" not in proc.stderr


def test_validation_catches_labels_that_do_not_match_the_audio(offline_run, tmp_path):
    folder = next(conversations(offline_run))[0]
    lines = read_jsonl(folder / "transcript.jsonl")

    def damaged(edit) -> list[str]:
        copy = tmp_path / f"d{len(list(tmp_path.iterdir()))}"
        shutil.copytree(folder, copy)
        changed = json.loads(json.dumps(lines))
        edit(changed)
        (copy / "transcript.jsonl").write_text("".join(json.dumps(t) + "\n" for t in changed))
        return validate_conversation(copy, check_mp3=False)

    def word_off(ls):
        w = ls[0]["words"][0]
        w["start"], w["end"] = ls[0]["end"] + 0.5, ls[0]["end"] + 0.9

    def word_in_silence(ls):  # inside the turn's span, but on no audio: before it starts speaking
        ls[0]["start"] -= 0.3
        ls[0]["words"][0].update(start=ls[0]["start"], end=ls[0]["start"] + 0.2)

    def backchannel_moved(ls):
        bc = next(t for t in ls if t["kind"] == "backchannel")
        bc["kind"] = "backchannel"
        peer = [t for t in ls if t["kind"] == "turn" and t["role"] != bc["role"]]
        bc["start"] = bc["end"] = max(t["end"] for t in peer) + 5

    assert any("outside its turn" in p for p in damaged(word_off))
    assert any("no speech under word" in p for p in damaged(word_in_silence))
    assert any("not inside a turn of its peer" in p for p in damaged(backchannel_moved))


def test_espeak_words_are_timed_by_the_engine():
    from synthconv.engine.offline.tts import Espeak

    espeak = Espeak.get()
    text = "My account number is 4471, and the charge of $49.99 is wrong."
    pcm, words = espeak.speak(text, OfflineVoice(voice="en-us"))
    assert [w.word for w in words] == text.split()
    rate = espeak.sample_rate
    ends = [0.0] + [w.end for w in words]
    for w, prev_end in zip(words, ends):
        assert prev_end <= w.start < w.end <= len(pcm) / rate
        assert loud(pcm[int(w.start * rate) : int(w.end * rate)]).mean() > 0.3
    number = next(w for w in words if w.word == "4471,")
    assert number.end - number.start > 1.0  # "four thousand four hundred seventy one"
    # espeak says some pairs under one word event ("I am", "that's it."): no written token is lost
    # (the turn's text is made of these words), each has speech under it
    for line in ("Really? I am sure that is it. How else can I do it?", "I'm sure that's it."):
        pcm, words = espeak.speak(line, OfflineVoice(voice="en-us"))
        assert [w.word for w in words] == line.split()
        for w, nxt in zip(words, words[1:] + [None]):
            assert w.start < w.end <= (nxt.start if nxt else len(pcm) / rate)
            assert loud(pcm[int(w.start * rate) : int(w.end * rate)]).mean() > 0.3
    hindi, hwords = espeak.speak("मेरा रिचार्ज फेल हो गया।", OfflineVoice(voice="hi"))
    assert [w.word for w in hwords] == ["मेरा", "रिचार्ज", "फेल", "हो", "गया।"]


def test_disfluency_labels():
    found = disfluencies("Um, I I need to check my account, I mean my account number.", "en")
    assert [(d["type"], d["index"]) for d in found] == [("filler", 0), ("repetition", 1), ("repair", 8)]
    assert disfluencies("So the plan is fine, so I will keep it.", "en") == []
    hi = disfluencies("अच्छा, मेरा मेरा रिचार्ज, मेरा मतलब रिचार्ज फेल हुआ।", "hi")
    assert [d["type"] for d in hi] == ["filler", "repetition", "repair"]


def test_turn_taking_figures_from_tracks_and_turns():
    rate = 24000
    a, b = np.zeros(rate * 10, np.int16), np.zeros(rate * 10, np.int16)
    a[0 : 4 * rate] = 1000  # a speaks 0-4 s, b 3.5-8 s: 0.5 s of overlap in 8 s of speech
    b[int(3.5 * rate) : 8 * rate] = 1000
    turns = [{"turn": 0, "role": "a", "kind": "turn", "start": 0.0, "end": 4.0, "interrupted": False},
             {"turn": 1, "role": "b", "kind": "turn", "start": 3.5, "end": 8.0, "interrupted": True}]
    got = turn_taking(turns, {"a": a, "b": b}, rate)
    assert got["floor_transfer_offset_s"]["p50"] == -0.5 and got["floor_transfer_offset_s"]["overlapped"] == 1.0
    assert got["overlap_ratio"] == pytest.approx(0.5 / 8, abs=0.01)
    assert got["speaking_share"] == {"a": pytest.approx(4 / 8.5, abs=0.01), "b": pytest.approx(4.5 / 8.5, abs=0.01)}
    assert got["interruptions_per_min"] == 6.0 and got["backchannels_per_min"] == 0.0


def test_in_a_room_a_listener_cuts_in_on_a_seeded_share_of_turns():
    """timing.barge_in: after which word of the peer's turn a listener in a room comes in."""
    from synthconv.job import plan
    from synthconv.scenario import load_library
    from synthconv.transport.timing import timing_model

    lib = load_library()
    job = plan(lib, 1, 7, scenarios=["billing-dispute"])[0]
    played = job.resolve(lib)
    sc, cast = played.scenario, played.personas

    def draws(mode, scale=1.0):
        tuned = sc.model_copy(update={"turn_taking": sc.turn_taking.model_copy(update={"interruptions": scale})})
        model = timing_model(mode, job.seed, tuned, cast)
        return [model.barge_in("customer") for _ in range(400)]

    natural = draws("natural")
    assert natural == draws("natural")  # seeded
    cut = [w for w in natural if w is not None]
    assert 0.03 < len(cut) / len(natural) < 0.35 and set(cut) <= set(range(5, 10))
    assert draws("strict") == [None] * 400 and draws("natural", 0.0) == [None] * 400
    assert sum(w is not None for w in draws("natural", 5.0)) > 2 * len(cut)
