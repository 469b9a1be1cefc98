"""Diversity figures: on hand-made conversations where the answer is known, and on a real run via inspect."""

import json
import shutil

from conftest import cli, read_jsonl

from synthconv.diversity import Sample, distinct_ngrams, figures, repeats, run_samples, speaker_groups, words


def _s(i, roles, *lines):
    return Sample(id=f"c{i}", scenario="x", roles=roles, utterances=list(lines))


def test_repeated_lines_count_across_conversations_not_within_one():
    a = _s(1, {"a": "p1", "b": "p2"}, "Thanks for calling, goodbye.", "It's 60614.", "Hello there my friend")
    b = _s(2, {"a": "p3", "b": "p4"}, "thanks for calling goodbye", "It's 60614.", "Something else entirely here")
    c = _s(3, {"a": "p5", "b": "p6"}, "Only mine, said twice here.", "Only mine, said twice here.")
    share, top = repeats([a, b, c])
    assert share == 2 / 6  # the goodbye twice, out of six utterances of four or more words
    assert top == [("Thanks for calling, goodbye.", 2)]
    assert repeats([a, b, c], min_words=1)[0] == 4 / 8  # the short zip answer counts too


def test_distinct_ngrams_and_speaker_groups():
    a = _s(1, {"a": "p1", "b": "p2"}, "a b c a b c")
    assert distinct_ngrams([a], 2) == 3 / 5 and distinct_ngrams([a], 3) == 3 / 4
    convs = [_s(1, {"a": "p1", "b": "p2"}), _s(2, {"a": "p2", "b": "p3"}), _s(3, {"a": "p4", "b": "p5"})]
    assert sorted(len(g) for g in speaker_groups(convs)) == [1, 2]


def test_a_speaker_disjoint_split_and_how_far_it_misses():
    unique = [_s(i, {"a": f"a{i}", "b": f"b{i}"}) for i in range(100)]
    f = figures(unique)
    assert f["distinct_speakers"] == 200 and f["speaker_groups"] == 100
    assert f["speaker_split"] == {"possible": True, "shares": {"train": 0.8, "dev": 0.1, "test": 0.1}, "off_by_points": 0.0}
    one_agent = [_s(i, {"a": "agent", "b": f"b{i}"}) for i in range(100)]
    f = figures(one_agent)
    assert f["speaker_groups"] == 1 and not f["speaker_split"]["possible"] and f["speaker_split"]["off_by_points"] == 20.0


def test_inspect_reports_diversity_of_a_run(offline_run):
    proc = cli("inspect", str(offline_run), "--diversity", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)["diversity"]
    ok = [r for r in read_jsonl(offline_run / "conversations.jsonl") if r["status"] == "ok"]
    assert d["conversations"] == len(ok) and d["distinct_speakers"] == 2 * len(ok)
    turns = sum(t.get("kind", "turn") == "turn"
                for r in ok for t in read_jsonl(offline_run / "conversations" / r["id"] / "transcript.jsonl"))
    assert d["utterances"] == turns and 0 < d["distinct_3grams"] <= 1
    text = cli("inspect", str(offline_run), "--diversity").stdout
    assert "distinct speakers" in text and "speaker-disjoint split" in text


def test_a_word_keeps_its_combining_marks():
    # Devanagari vowel signs and viramas are not \w to Python's re: "नमस्कार" is one word, not "नमस क र"
    assert words("नमस्कार, मेरा नाम दीपिका है। ठीक है॥") == ["नमस्कार", "मेरा", "नाम", "दीपिका", "है", "ठीक", "है"]
    assert words("Hi, it's RE-448190 — don’t worry.") == ["hi", "it's", "re-448190", "don’t", "worry"]
    one = _s(1, {}, "नमस्कार जी, कहिए नमस्कार जी")
    assert distinct_ngrams([one], 2) == 3 / 4  # (नमस्कार जी) twice, (जी कहिए), (कहिए नमस्कार)


def test_a_run_folder_counts_turns_not_backchannels(offline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(offline_run, run)
    before = {s.id: s.utterances for s in run_samples(run)}
    cid = next(iter(before))
    path = run / "conversations" / cid / "transcript.jsonl"
    rows = read_jsonl(path)
    rows.append({**rows[0], "kind": "backchannel", "text": "mm-hmm, right, I see", "heard": None})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    after = {s.id: s.utterances for s in run_samples(run)}
    assert after == before and len(after[cid]) == sum(r.get("kind", "turn") == "turn" for r in rows)
