"""Statistics and plots: `inspect --report` writes real PNGs and a report that shows them, and
the figures agree with the transcripts; the diversity measures give known answers."""

import json
import struct

import numpy as np
import pytest
from conftest import cli, read_jsonl

from synthconv.diversity import wording


@pytest.fixture(scope="module")
def report(offline_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "rep"
    proc = cli("inspect", str(offline_run), "--report", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


def test_plots_are_valid_pngs_that_the_report_shows(report):
    from matplotlib import image

    out, _ = report
    text = (out / "report.md").read_text()
    pngs = sorted(out.glob("*.png"))
    assert {p.name for p in pngs} == {"durations.png", "turns_words.png", "gaps.png", "counts.png"}
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 400 and height >= 300
        pixels = image.imread(p)
        assert pixels.shape[:2] == (height, width) and pixels.std() > 0.01  # something is drawn
        assert f"]({p.name})" in text


def test_figures_agree_with_the_transcripts(offline_run, report):
    out, stdout = report
    turns = {r["id"]: read_jsonl(offline_run / "conversations" / r["id"] / "transcript.jsonl")
             for r in read_jsonl(offline_run / "conversations.jsonl")}
    turns = {cid: [t for t in ts if t["kind"] == "turn"] for cid, ts in turns.items()}  # not backchannels
    gaps = [b["start"] - a["end"] for ts in turns.values() for a, b in zip(ts, ts[1:]) if a["role"] != b["role"]]
    proc = cli("inspect", str(offline_run), "--json")
    figures = json.loads(proc.stdout)["figures"]
    assert figures["conversations"] == 3 and figures["turns"] == sum(len(t) for t in turns.values())
    assert figures["overlap_share"] == round(sum(g < 0 for g in gaps) / len(gaps), 4)
    assert abs(figures["median_gap_s"] - float(np.median(gaps))) < 0.001
    text = (out / "report.md").read_text()
    assert f"| turns | {figures['turns']} |" in text and f"| words | {figures['words']} |" in text
    assert f"words {figures['words']}" in stdout and "distinct 2-grams" in stdout


def test_diversity_measures():
    assert wording({"c": ["a b a b", "a b"]})["distinct_2"] == round(2 / 4, 4)  # (a b), (b a), (a b) | (a b)
    convs = {"c1": ["Hello, how are you?", "Fine."], "c2": ["hello how are you", "Bye"], "c3": ["Other words"]}
    assert wording(convs)["repeated_utterance_share"] == round(2 / 5, 4)
    long = " ".join(f"w{i}" for i in range(50))
    pairs = wording({"a": [long], "b": [long + " extra"], "c": ["something else entirely here"]})["near_duplicates"]
    assert [(a, b) for a, b, _ in pairs] == [("a", "b")] and pairs[0][2] > 0.9
