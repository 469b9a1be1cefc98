"""Speaking with Piper: neural VITS voices on onnxruntime (piper-tts, GPL-3.0-or-later).

A voice model is used as Piper ships it, patched once into a cache file (`prepared`):
- the per-phoneme durations become a second output (piper's own `patch_voice_with_alignment`),
  from which every word's span follows;
- the model's two random generators (RandomNormalLike: the duration noise and the flow noise)
  become inputs. onnxruntime seeds such a generator once per session and advances it with every
  call, so the same sentence came out differently depending on what the process had said before
  (and on the clock, in another process). The noise is now drawn with numpy from a seed per
  utterance (job seed, role and text): the same seed gives the same samples in any process, at
  any concurrency, in any order of calls.

A persona's prosody is Piper's own length and noise scales, plus a pitch shift in semitones made
by resampling: formants move with the pitch, as a shorter or longer vocal tract would (the
"speed perturbation" by which speech recognition training makes new speakers out of old), and
the length scale is corrected so the tempo stays the persona's.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import tempfile
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import EngineError
from ...runfolder.spoken import DIGITS, spoken_form
from ...scenario import PiperVoice
from .alignment import align, sentence_of_tokens, sounds, span_of, word_spans_of
from .tts import MAX_PAUSE_S, Word, paced, utterance_seed

PATCH_VERSION = 2  # bump when `_patch` changes: cached files of older versions are not used
NOISE_PER_ID = 1024  # noise values drawn per phoneme id: the flow needs about 192 × 2.4 (tiled if more)
PEAK = 0.89  # each sentence is normalized to -1 dBFS, as piper does (to full scale)
SILENT = 64  # as runfolder.audio.SILENT: word spans are trimmed to samples above it
CALIBRATION = "Thank you for calling. Could you tell me your account number and the date of the charge, please?"


def cache_dir() -> Path:
    """Where prepared models are kept: $SYNTHCONV_CACHE_DIR, else $XDG_CACHE_HOME/synthconv."""
    if os.environ.get("SYNTHCONV_CACHE_DIR"):
        return Path(os.environ["SYNTHCONV_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "synthconv"


def prepared(model: Path) -> Path:
    """`model` with durations as an output and its noise as inputs, written once into the cache
    (atomically: runners start at once) and keyed by the model's content. A cache that cannot be
    written (a read-only home) gives way to the temporary folder."""
    h = hashlib.sha256()
    with open(model, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    name = f"{model.name.removesuffix('.onnx')}-{h.hexdigest()[:16]}-v{PATCH_VERSION}.onnx"
    for folder in (cache_dir() / "piper", Path(tempfile.gettempdir()) / f"synthconv-{os.getuid()}" / "piper"):
        path = folder / name
        if path.exists():
            return path
        try:
            import onnx

            folder.mkdir(parents=True, exist_ok=True)
            m = onnx.load(str(model))
            _patch(m)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            onnx.save(m, str(tmp))
            os.replace(tmp, path)
            return path
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
    raise EngineError(f"cannot write the prepared voice model {name} into {cache_dir()} or the temporary folder "
                      "(set SYNTHCONV_CACHE_DIR to a writable folder)")


def _patch(m) -> None:  # noqa: ANN001 - an onnx.ModelProto, changed in place
    """Durations out (the Ceil tensor, and its input: before rounding up), and each
    RandomNormalLike(ref) replaced by a flat noise input `noise_<k>` (`_noise_input`)."""
    from onnx import helper
    from piper.patch_voice_with_alignment import add_alignment_output

    add_alignment_output(m)
    ceil = next(n for n in m.graph.node if n.op_type == "Ceil")
    m.graph.output.append(helper.make_empty_tensor_value_info(ceil.input[0]))  # durations before rounding
    nodes, k = [], 0
    for node in m.graph.node:
        if node.op_type == "RandomNormalLike":
            nodes += _noise_input(m, node.input[0], node.output[0], f"noise_{k}")
            k += 1
        else:
            nodes.append(node)
    del m.graph.node[:]
    m.graph.node.extend(nodes)


def _noise_input(m, ref: str, out: str, name: str) -> list:  # noqa: ANN001 - an onnx.ModelProto
    """Nodes making `out` from input `name` (flat noise, any length): tiled if it is shorter than
    `ref`, cut to ref's size and shaped like it."""
    from onnx import TensorProto, helper

    p = f"/synthconv/{name}/"
    m.graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"{name}_length"]))
    ints = [helper.make_node("Constant", [], [p + label], value=helper.make_tensor(
        p + label + "_value", TensorProto.INT64, [1], [value])) for label, value in (("one", 1), ("zero", 0))]
    return [
        *ints,
        helper.make_node("Shape", [ref], [p + "shape"]),
        helper.make_node("ReduceProd", [p + "shape"], [p + "want"], keepdims=1),
        helper.make_node("Shape", [name], [p + "have"]),
        helper.make_node("Sub", [p + "want", p + "one"], [p + "less"]),
        helper.make_node("Div", [p + "less", p + "have"], [p + "times"]),
        helper.make_node("Add", [p + "times", p + "one"], [p + "reps"]),  # ceil(want / have)
        helper.make_node("Tile", [name, p + "reps"], [p + "tiled"]),
        helper.make_node("Slice", [p + "tiled", p + "zero", p + "want"], [p + "flat"]),
        helper.make_node("Reshape", [p + "flat", p + "shape"], [out]),
    ]


class PiperModel:
    """One Piper voice model in onnxruntime, one thread, shared by every persona of the process
    that speaks with it (`get`)."""

    _models: dict[tuple[Path, Path], PiperModel] = {}
    _lock = threading.Lock()

    def __init__(self, model: Path, config: Path) -> None:
        import onnxruntime
        from piper import PiperVoice as _Piper
        from piper.config import PiperConfig

        self.config = PiperConfig.from_dict(json.loads(Path(config).read_text(encoding="utf-8")))
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # several runners share the cores
        opts.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(prepared(Path(model))), opts, providers=["CPUExecutionProvider"])
        self.noise = sorted(i.name for i in self.session.get_inputs() if i.name.startswith("noise_"))
        self._piper = _Piper(session=self.session, config=self.config)  # for its phonemizer
        self.sample_rate = self.config.sample_rate
        self._phonemize_lock = threading.Lock()
        self._expected: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._frames: dict[int | None, np.ndarray] = {}  # per speaker: a calibration sentence's durations

    @classmethod
    def get(cls, model: Path, config: Path) -> PiperModel:
        key = (Path(model).resolve(), Path(config).resolve())
        with cls._lock:
            if key not in cls._models:
                cls._models[key] = cls(*key)
            return cls._models[key]

    def phonemize(self, text: str) -> list[list[str]]:
        """Phonemes per sentence (espeak-ng inside piper, which is not reentrant)."""
        with self._phonemize_lock:
            return [s for s in self._piper.phonemize(text) if s]

    def expected(self, token: str, language: str) -> list[tuple[int, int]]:
        """How many phoneme words and sounds `token` may make, said on its own in spoken form (a
        number of three digits or more also read digit by digit, as it is in a group: "4417 2093"),
        to find it among a sentence's phoneme words."""
        if (token, language) not in self._expected:
            readings = {spoken_form(token, language) or token}
            if sum(c.isdigit() for c in token) >= 3:
                readings.add(re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", token))
            found = []
            for said in sorted(readings):
                words = [[s[i] for i in w] for s in self.phonemize(said) for w in word_spans_of(s)]
                found.append((len(words), sum(sounds(w) for w in words)))
            self._expected[token, language] = found
        return self._expected[token, language]

    def run(self, phonemes: list[str], scales: tuple[float, float, float], speaker_id: int | None,
            seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One sentence at (noise, length, noise_w) `scales`: float audio, the samples each of ^, the
        phonemes and $ lasts, and each phoneme id's duration in frames before rounding up."""
        id_map, pad = self.config.phoneme_id_map, list(self.config.phoneme_id_map.get("_", []))
        ids, counts = [], []  # ids of each of ^, the phonemes (piper skips those not in its map), $
        for p in ["^", *phonemes, "$"]:
            got = list(id_map.get(p, [])) + (pad if p != "$" and p in id_map else [])
            ids += got
            counts.append(len(got))
        rng = np.random.default_rng(seed)
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
            **{name: rng.standard_normal(NOISE_PER_ID * len(ids), dtype=np.float32) for name in self.noise},
        }
        if self.config.num_speakers > 1:
            feeds["sid"] = np.array([self.config.default_speaker_id if speaker_id is None else speaker_id],
                                    dtype=np.int64)
        audio, durations, raw = self.session.run(None, feeds)[:3]
        samples = np.asarray(durations, dtype=np.float64).reshape(-1) * self.config.hop_length
        bounds = np.cumsum([0, *counts])
        lasts = np.array([int(samples[a:b].sum()) for a, b in zip(bounds, bounds[1:], strict=False)], dtype=np.int64)
        return np.asarray(audio, dtype=np.float32).reshape(-1), lasts, np.asarray(raw, dtype=np.float64).reshape(-1)

    def length_for(self, length_scale: float, factor: float, speaker_id: int | None) -> float:
        """The length scale whose audio, made `factor` times longer by resampling, lasts as long as
        `length_scale`'s. Not length_scale / factor: every phoneme id lasts at least a whole frame,
        so a model's length does not scale in proportion (Piper's joe: 0.8 gives 0.90 of the
        length, 1.2 gives 1.08). Solved on a calibration sentence's durations, which scale exactly
        before they are rounded up."""
        if speaker_id not in self._frames:
            phonemes = [p for s in self.phonemize(CALIBRATION) for p in s]
            self._frames[speaker_id] = self.run(phonemes, (0.0, 1.0, 0.0), speaker_id, 0)[2]
        w = self._frames[speaker_id]
        want = np.ceil(w * length_scale).sum() / factor
        lo, hi = 0.05, 8.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.ceil(w * length_scale * mid).sum() < want else (lo, mid)
        return length_scale * hi


class PiperSpeech:
    """A persona's Piper voice: a catalog voice's model and speaker with the persona's prosody,
    spoken sentence by sentence, each with its words."""

    model = "piper"

    def __init__(self, voice: PiperVoice, model_path: Path, config_path: Path, speaker_id: int | None = None,
                 seed: str = "", language: str = "en") -> None:
        self.voice, self.speaker_id, self.seed, self.language = voice, speaker_id, seed, language
        self._paths = (model_path, config_path)
        self._loaded: PiperModel | None = None
        self.sample_rate = int(json.loads(Path(config_path).read_text(encoding="utf-8"))["audio"]["sample_rate"])
        # the pitch shift: resampled by up/down, synthesized that much faster so the tempo holds
        self._ratio = Fraction(2 ** (-voice.pitch / 12)).limit_denominator(48) if voice.pitch else Fraction(1)

    @property
    def _model(self) -> PiperModel:
        """Loaded on first use, in the worker thread that makes the first part (2-3 s: never on
        a room agent's event loop)."""
        if self._loaded is None:
            self._loaded = PiperModel.get(*self._paths)
        return self._loaded

    def parts(self, text: str) -> Iterator[tuple[np.ndarray, list[Word]]]:
        """`text` said in its spoken form (runfolder/spoken.py: "PT-3431" as "P T three four three
        one", as `spoken` in the transcript says it), its words timed as the written tokens,
        with a speaker's pauses (tts.paced) inside each sentence and after it (Piper ends a
        sentence with under 0.1 s of silence: a bridge of Piper voices had 4.4 s of pauses per
        minute where Fisher has 6.4)."""
        v, rate = self.voice, self.sample_rate
        seed, scale = f"{v.voice}:{v.length_scale}:{text}", min(1.4, max(0.8, v.length_scale))
        rng = random.Random(f"{seed}:between")
        tail = None  # seconds of silence the sentence before ended with
        for pcm, words in self._sentences(text):
            pcm, words = paced(pcm, words, rate, seed, scale)
            if tail is not None and words:  # the pause between two sentences goes before the second
                lead = words[0].start
                n = int(min(rng.uniform(0.08, 0.25) * scale, MAX_PAUSE_S - tail - lead) * rate)
                if n > 0.02 * rate:
                    pcm = np.concatenate([np.zeros(n, np.int16), pcm])
                    words = [Word(w.word, round(w.start + n / rate, 3), round(w.end + n / rate, 3)) for w in words]
            tail = len(pcm) / rate - words[-1].end if words else None
            yield pcm, words

    def _sentences(self, text: str) -> Iterator[tuple[np.ndarray, list[Word]]]:
        said = text.split()
        spoken = spoken_form(text, self.language) or text
        sentences = [(ph, word_spans_of(ph)) for ph in self._model.phonemize(spoken)]
        flat = [(s, w) for s, (_, spans) in enumerate(sentences) for w in range(len(spans))]
        owner = align([self._model.expected(t, self.language) for t in said],
                      [sounds([sentences[s][0][i] for i in sentences[s][1][w]]) for s, w in flat])
        where = sentence_of_tokens(owner, flat)
        base = utterance_seed(self.seed, text)
        for s, (phonemes, spans) in enumerate(sentences):
            pcm, at = self._sentence(phonemes, spans, base + s)
            loud = np.abs(pcm.astype(np.int32)) > SILENT
            words: list[Word] = []
            riders: list[str] = []  # tokens with no sound of their own, waiting for a word
            for t in (t for t in range(len(said)) if where[t] == s):
                span = span_of(owner, t, flat, at, s, said)
                hit = np.flatnonzero(loud[span[0]:span[1]]) if span is not None else np.empty(0, dtype=np.intp)
                if span is None or not len(hit):
                    if words:
                        words[-1] = Word(f"{words[-1].word} {said[t]}", words[-1].start, words[-1].end)
                    else:
                        riders.append(said[t])
                    continue
                a, b = span[0] + int(hit[0]), span[0] + int(hit[-1]) + 1
                words.append(Word(" ".join([*riders, said[t]]), round(a / self.sample_rate, 3),
                                  round(b / self.sample_rate, 3)))
                riders = []
            yield pcm, words

    def _sentence(self, phonemes: list[str], spans: list[list[int]], seed: int
                  ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """int16 samples of one sentence, and each phoneme word's (start, end) sample in them."""
        v, factor = self.voice, float(self._ratio)
        length = self._model.length_for(v.length_scale, factor, self.speaker_id) if factor != 1 else v.length_scale
        audio, lasts, _ = self._model.run(phonemes, (v.noise_scale, length, v.noise_w_scale), self.speaker_id, seed)
        ends = np.cumsum(lasts)  # of ^, each phoneme, $
        starts = ends - lasts
        at = [(int(starts[1 + w[0]]), int(ends[1 + w[-1]])) for w in spans]
        if self._ratio != 1:
            from scipy.signal import resample_poly

            up, down = self._ratio.numerator, self._ratio.denominator
            audio = resample_poly(audio, up, down).astype(np.float32)
            at = [(a * up // down, b * up // down) for a, b in at]
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        pcm = (audio * (PEAK * 32767 / peak)).astype(np.int16) if peak > 1e-8 else np.zeros(len(audio), np.int16)
        return pcm, [(min(a, len(pcm)), min(b, len(pcm))) for a, b in at]
