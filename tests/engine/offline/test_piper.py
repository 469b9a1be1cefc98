"""Piper, the offline engine's neural voice: word timings from its phoneme durations, seeded noise
(the same samples in any process), pitch shifts, and the multi-speaker path (a tiny stand-in model)."""

import json
import subprocess
import sys

import numpy as np
import piper_model
from conftest import ROOT, TESTS

from synthconv.engine.offline.alignment import align
from synthconv.engine.offline.piper import PiperSpeech
from synthconv.engine.offline.tts import MAX_PAUSE_S
from synthconv.runfolder import loud
from synthconv.scenario import PiperVoice
from synthconv.voices import Catalog

JOE = "en_US-joe-medium"


def joe(seed: str = "1:agent", **prosody) -> PiperSpeech:
    v = Catalog.load().get(JOE)
    return PiperSpeech(PiperVoice(voice=JOE, **prosody), v.model_path, v.config_path, v.speaker_id, seed)


def said(speech: PiperSpeech, text: str) -> tuple[np.ndarray, list]:
    """The whole text: samples and words, timed from its start (as the TTS pushes them)."""
    pcm, words, at = [], [], 0.0
    for part, ws in speech.parts(text):
        pcm.append(part)
        words += [type(w)(w.word, round(at + w.start, 3), round(at + w.end, 3)) for w in ws]
        at += len(part) / speech.sample_rate
    return np.concatenate(pcm), words


def test_piper_words_are_timed_by_the_engine():
    speech = joe()
    rate = speech.sample_rate
    for text in ("My account number is 4471, and the charge of $49.99 is wrong.",
                 "Really? I am sure that is it. I'm sure that's it in the end — okay?",
                 "Um, I I need to check my account, I mean my account number."):
        pcm, words = said(speech, text)
        # every written token is a word, in order (a dash with no sound rides with the word before)
        assert " ".join(w.word for w in words).split() == text.split()
        ends = [0.0] + [w.end for w in words]
        for w, prev_end in zip(words, ends):
            assert prev_end <= w.start < w.end <= len(pcm) / rate, w
            assert loud(pcm[int(w.start * rate): int(w.end * rate)]).mean() > 0.3, w
    pcm, words = said(speech, "My account number is 4471, and the charge of $49.99 is wrong.")
    number = next(w for w in words if w.word == "4471,")
    assert number.end - number.start > 1.0  # "four thousand four hundred seventy one"


def test_a_piper_line_pauses_where_a_speaker_does_and_never_longer_than_a_listener_waits():
    """Piper's own pauses are short (0.24 s after "Really?", 0.23 s after "Um,"): a line gets a
    speaker's pauses after a sentence, a hesitation and some commas (tts.paced), each under
    MAX_PAUSE_S of silence so a listener's VAD hears the line whole."""
    speech = joe()
    pcm, words = said(speech, "Really? I am sure that is it. Um, okay, so the charge, is wrong.")
    gaps = {a.word: b.start - a.end for a, b in zip(words, words[1:])}
    assert gaps["Really?"] > 0.35 and gaps["it."] > 0.35 and gaps["Um,"] > 0.3, gaps
    longest = max(b.start - a.end for a, b in zip(words, words[1:]))
    assert longest <= MAX_PAUSE_S + 0.01 and len(pcm) / speech.sample_rate > words[-1].end
    assert said(speech, "Really? I am sure that is it.")[0].tobytes() == said(speech, "Really? I am sure that is it.")[0].tobytes()


def test_alignment_finds_numbers_and_joined_words():
    # "my 4471 in the end": (phoneme words, sounds) of each token said alone, then the sounds of
    # each phoneme word as the sentence says it: 4471 is seven words, "in the" is one ("ɪnðə")
    tokens = [[(1, 2)], [(7, 28)], [(1, 2)], [(1, 2)], [(1, 3)]]
    said = [2, 4, 4, 4, 4, 4, 4, 4, 4, 3]
    assert align(tokens, said) == [[0], [1, 2, 3, 4, 5, 6, 7], (8, 0), (8, 1), [9]]
    assert align([[(1, 2)], [(0, 0)], [(1, 3)]], [2, 3]) == [[0], None, [1]]  # a dash: said as nothing
    # "4417 2093" said digit by digit: each token may be a number (4 words) or its digits (4 words)
    digits = [[(6, 30), (4, 12)], [(5, 26), (4, 12)]]
    assert align(digits, [3, 3, 3, 3, 3, 3, 3, 3]) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_same_seed_same_samples_in_another_process_and_another_seed_differs():
    text = "Thanks for calling, this is Sam. How can I help you today?"
    speech = joe("42:agent")
    list(speech.parts("Something said before, which must not change what follows."))
    here = said(speech, text)[0]
    code = ("import sys, numpy as np; sys.path[:0] = [{!r}, {!r}]\n"
            "from test_piper import joe, said\n"
            "sys.stdout.buffer.write(said(joe('42:agent'), {!r})[0].tobytes())").format(
        str(TESTS / "engine" / "offline"), str(TESTS), text)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=300, check=True).stdout
    assert other == here.tobytes()
    assert said(joe("43:agent"), text)[0].tobytes() != here.tobytes()  # the noise is the seed's


def test_a_pitch_shift_moves_the_voice_and_keeps_the_tempo():
    text = "I would like to check the balance on my account, please."
    rate = joe().sample_rate
    low, high = said(joe(pitch=-2.0), text)[0], said(joe(pitch=2.0), text)[0]
    assert abs(len(low) - len(high)) / len(low) < 0.08  # the length scale corrects the resampling
    f_low, f_high = median_f0(low, rate), median_f0(high, rate)
    assert 2 ** (3 / 12) < f_high / f_low < 2 ** (5 / 12), (f_low, f_high)  # 4 semitones apart


def median_f0(pcm: np.ndarray, rate: int) -> float:
    """The median pitch of the voiced 40 ms frames (autocorrelation peak in 60-400 Hz)."""
    x = pcm.astype(np.float64) / 32768
    size, f0s = int(0.04 * rate), []
    for i in range(0, len(x) - size, size // 2):
        frame = x[i: i + size] - x[i: i + size].mean()
        if np.sqrt((frame ** 2).mean()) < 0.05:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1:]
        lo, hi = rate // 400, rate // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s))


def test_a_multi_speaker_model_speaks_by_speaker_id(tmp_path):
    """Plumbing, not sound: the tiny stand-in model (tests/piper_model.py) says a sine at 100 + 50 ×
    speaker id Hz; each catalog speaker must reach the model as its own id, with its own facts."""
    folder = tmp_path / "voices"
    piper_model.build(folder, facts={"piper": {"en_US-tiny": {"licence": "CC-BY-4.0", "speakers": {
        "alice": {"gender": "female", "age": "18-29"}, "bob": {"gender": "male"}}}}})
    cat = Catalog.load([folder])
    names = [n for n in cat.voices if n.startswith("en_US-tiny")]
    assert names == ["en_US-tiny-x_low:alice", "en_US-tiny-x_low:bob", "en_US-tiny-x_low:carol"]
    alice, bob, carol = (cat.get(n) for n in names)
    assert (alice.speaker, alice.speaker_id, alice.gender, alice.age) == ("alice", 0, "female", "18-29")
    assert (bob.gender, carol.gender, carol.licence) == ("male", None, "CC-BY-4.0")
    for v, hz in ((alice, 100), (bob, 150), (carol, 200)):
        speech = PiperSpeech(PiperVoice(voice=v.name), v.model_path, v.config_path, v.speaker_id, "3:customer")
        pcm, words = said(speech, "Hello there. My number is 42.")
        spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
        assert abs(np.argmax(spectrum) * speech.sample_rate / len(pcm) - hz) < 3
        assert [w.word for w in words] == ["Hello", "there.", "My", "number", "is", "42."]
        again = said(PiperSpeech(PiperVoice(voice=v.name), v.model_path, v.config_path, v.speaker_id,
                                 "3:customer"), "Hello there. My number is 42.")[0]
        assert again.tobytes() == pcm.tobytes()  # its flow noise is the seeded one
    quiet = PiperSpeech(PiperVoice(voice=carol.name, noise_scale=0.3), carol.model_path, carol.config_path, 2, "3:c")
    assert said(quiet, "Hello there.")[0].tobytes() != said(
        PiperSpeech(PiperVoice(voice=carol.name), carol.model_path, carol.config_path, 2, "3:c"), "Hello there.")[0].tobytes()


def short_scenarios(folder):
    """refund.yaml cut to its first four beats: a short call, spoken by drawn personas."""
    import yaml

    from synthconv.scenario import DEFAULT_SCENARIOS

    sc = yaml.safe_load((DEFAULT_SCENARIOS / "refund.yaml").read_text())
    sc.update(script=sc["script"][:4], branches=[], turns={"min": 2, "max": 4})
    folder.mkdir()
    (folder / "refund.yaml").write_text(yaml.safe_dump(sc, allow_unicode=True))
    return folder


def test_a_piper_run_repeats_sample_for_sample(tmp_path):
    """Two processes, one seed, at concurrency 2 and 1 (the second conversation said after the first
    in one process): the same tracks, byte for byte."""
    from conftest import synthconv

    runs, scenarios = [], short_scenarios(tmp_path / "scenarios")
    for name, concurrency in (("a", "2"), ("b", "1")):
        out = tmp_path / name
        proc = synthconv("generate", "--count", "2", "--seed", "11", "--scenarios-dir", str(scenarios),
                         "--hearing", "transcript", "--concurrency", concurrency, "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append(out)
    a, b = runs
    tracks = sorted(p.relative_to(a) for p in a.glob("conversations/*/tracks/*.wav"))
    assert len(tracks) == 4
    for t in tracks:
        assert (a / t).read_bytes() == (b / t).read_bytes(), t
    for meta in a.glob("conversations/*/meta.json"):
        voices = json.loads(meta.read_text())["voices"]
        assert {v["engine"] for v in voices.values()} == {"piper"}
