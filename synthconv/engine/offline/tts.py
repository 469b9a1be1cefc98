"""Speaking with espeak-ng (the `espeakng-loader` wheel), one of the offline engine's voices
(speaking.py makes any of them a livekit TTS; piper.py is the other).

`Espeak` is a per-process singleton with one lock: the library is not reentrant, so one call at
a time loads it afresh (for determinism, see `Espeak`), sets the voice, rate and pitch it needs,
synthesizes and unloads it again (about 15 ms; several hundred times real time).

espeak-ng reports where each word starts in the audio: `word_spans` makes them the written
words' spans, which become the turn's `words`.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import hashlib
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ...scenario import OfflineVoice

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_EVENT_END_OF_LIST, _EVENT_WORD = 0, 1
SILENT = 64  # as runfolder.audio.SILENT: word spans are trimmed to samples above it


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h (audio_position in ms from the start of the utterance)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


@dataclass(frozen=True)
class Word:
    word: str  # as written, punctuation included ("4471,")
    start: float  # seconds from the start of the utterance's audio
    end: float


def word_spans(text: str, starts: list[tuple[int, int]], pcm: np.ndarray, rate: int) -> list[Word]:  # noqa: C901
    """The written words of `text` with their spans in `pcm`.

    `starts` are espeak's word events: (1-based character position, sample where it starts).
    espeak reports a number such as 4471 as several spoken words, all inside one written token,
    so events are grouped by the whitespace token they fall in; a token lasts until the next
    token starts and is then trimmed to its loud samples (its pause belongs to no word). Some
    tokens get no event of their own: espeak says "I am" or "that's it." under one event. The
    event's span is then shared among its tokens by their length (an estimate of the boundary),
    so every written token is a word.
    """
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    first: dict[int, int] = {}
    for pos, sample in starts:
        for i, (a, b) in enumerate(tokens):
            if a <= pos - 1 < b:
                first.setdefault(i, sample)
                break
    groups: list[list[int]] = []  # token indices spoken under the first one's event
    for i in range(len(tokens)):
        if i in first or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    if len(groups) > 1 and groups[0][0] not in first:  # leading tokens without an event
        groups[1] = groups.pop(0) + groups[0]
    order = sorted((first[next(i for i in g if i in first)], g) for g in groups if any(i in first for i in g))
    loud = np.abs(pcm.astype(np.int32)) > SILENT
    words: list[Word] = []

    def add(i: int, a: int, b: int) -> None:
        where = np.flatnonzero(loud[a:b])
        said = text[tokens[i][0]:tokens[i][1]]
        if len(where):
            words.append(Word(said, float(round((a + where[0]) / rate, 3)), float(round((a + where[-1] + 1) / rate, 3))))
        elif words:  # no sound of its own: the text still belongs to the word before
            words[-1] = Word(f"{words[-1].word} {said}", words[-1].start, words[-1].end)

    for k, (a, group) in enumerate(order):
        b = order[k + 1][0] if k + 1 < len(order) else len(pcm)
        where = np.flatnonzero(loud[a:b])
        if len(group) > 1 and len(where):  # one event, several tokens: shared by their length
            a, b = a + int(where[0]), a + int(where[-1]) + 1
            sizes = np.cumsum([0] + [tokens[i][1] - tokens[i][0] + 1 for i in group])
            cuts = [a + int((b - a) * x / sizes[-1]) for x in sizes]
            for i, x, y in zip(group, cuts, cuts[1:]):
                add(i, x, y)
        else:
            for i in group:
                add(i, a, b)  # a lone token, or tokens over silence (they join the word before)
    return words


# a pause never grows past this: a listener's VAD ends a speech segment after 0.6 s of silence, and
# a line must reach its recognizer as one segment
MAX_PAUSE_S = 0.55
HESITATIONS = {"um,", "uh,", "er,", "hmm,", "well,", "so,", "okay,", "right,", "look,", "अच्छा,", "देखिए,", "मतलब,",
               "हम्म,", "जी,"}


def paced(pcm: np.ndarray, words: list[Word], rate: int, seed: str, scale: float) -> tuple[np.ndarray, list[Word]]:
    """The line with pauses a speaker makes: longer and more varied silences where a sentence or
    clause ends and after a hesitation ("Um,"), than a TTS's own (espeak-ng: 0.3 s at a full stop,
    0.15 s at a comma, always the same), and never longer than a listener's VAD takes for the end
    of its speech (MAX_PAUSE_S).

    Real talk has about 6 s of such pauses per minute (Fisher telephone speech, 0.2 s or longer
    silences inside one speaker's speech; labels.timing_per_minute). The silence is added in the
    middle of the TTS's own pause, so the prosody is the voice's, and the word times move with it.
    Seeded by the line and the voice (`seed`): the same line in the same voice sounds the same;
    `scale` (0.8-1.4) lengthens a slower voice's pauses."""
    if len(words) < 2:
        return pcm, words
    rng = random.Random(seed)
    cuts: list[tuple[int, int]] = []  # (sample where silence goes in, samples of it)
    for a, b in zip(words, words[1:]):
        token = a.word.lower()
        if token.endswith((".", "?", "!", "।")):
            extra = rng.uniform(0.08, 0.25)
        elif token in HESITATIONS:
            extra = rng.uniform(0.1, 0.25)
        elif token.endswith((",", ";", ":")) and rng.random() < 0.5:
            extra = rng.uniform(0.06, 0.25)
        else:
            continue
        room = MAX_PAUSE_S - (b.start - a.end)  # espeak's own pause is longer at a slow rate
        if room > 0.02:
            cuts.append((int((a.end + b.start) / 2 * rate), int(min(room, extra * scale) * rate)))
    if not cuts:
        return pcm, words
    parts, at = [], 0
    for where, n in cuts:
        parts += [pcm[at:where], np.zeros(n, np.int16)]
        at = where
    parts.append(pcm[at:])

    def moved(t: float) -> float:
        return t + sum(n for where, n in cuts if where <= t * rate) / rate

    return np.concatenate(parts), [Word(w.word, round(moved(w.start), 3), round(moved(w.end), 3)) for w in words]


class Espeak:
    """espeak-ng, loaded afresh for every utterance.

    espeak-ng keeps pitch state in static variables from one synthesis to the next, so the same
    words came out a few samples longer or shorter depending on what the process said before.
    Loading the library for each utterance (about 15 ms) makes the audio a function of the text
    and voice alone, which keeps runs of one seed identical sample for sample. The breathy
    variants (+f2, +f3, +f5) add noise from espeak-ng's random generator, whose start differs
    from one process to the next: each utterance seeds it (`espeak_ng_SetRandSeed`, 1.52) with
    the seed it is given, so their breath repeats too.
    """

    _instance: Espeak | None = None
    _create_lock = threading.Lock()
    _lock = threading.Lock()  # one synthesis at a time: the library is not reentrant

    def __init__(self) -> None:
        import espeakng_loader

        self._path = espeakng_loader.get_library_path()
        self._data = espeakng_loader.get_data_path().encode()
        self._chunks: list[np.ndarray] = []
        self._words: list[tuple[int, int]] = []  # (character position, sample) per word event
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        with self._lock, self._open() as lib:
            self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")

    @classmethod
    def get(cls) -> Espeak:
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @contextlib.contextmanager
    def _open(self) -> Iterator[ctypes.CDLL]:
        """A freshly loaded, initialised library, unloaded again afterwards (hold the lock)."""
        lib = ctypes.CDLL(self._path)
        try:
            lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data, 0)
            lib.espeak_SetSynthCallback(self._callback)
            yield lib
        finally:
            lib.espeak_Terminate()
            handle = lib._handle
            del lib
            _ctypes.dlclose(handle)

    def _on_audio(self, wav, n: int, events) -> int:  # noqa: ANN001 - ctypes callback
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        ev = ctypes.cast(events, ctypes.POINTER(_Event))
        i = 0
        while ev and ev[i].type != _EVENT_END_OF_LIST:
            if ev[i].type == _EVENT_WORD:
                self._words.append((ev[i].text_position, ev[i].audio_position * self.sample_rate // 1000))
            i += 1
        return 0

    def has_voice(self, name: str) -> bool:
        with self._lock, self._open() as lib:
            return lib.espeak_SetVoiceByName(name.encode()) == 0

    def synthesize(self, text: str, voice: OfflineVoice, seed: int = 0) -> np.ndarray:
        """Return int16 mono samples at `sample_rate` for `text`."""
        return self.speak(text, voice, seed)[0]

    def speak(self, text: str, voice: OfflineVoice, seed: int = 0) -> tuple[np.ndarray, list[Word]]:
        """int16 mono samples at `sample_rate` for `text`, and its words' spans in them; `seed`
        starts the random generator of the breathy variants."""
        data = text.encode("utf-8")
        with self._lock, self._open() as lib:
            if lib.espeak_SetVoiceByName(voice.voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice.voice!r}")
            lib.espeak_ng_SetRandSeed(ctypes.c_long(seed & 0x7FFFFFFF))
            lib.espeak_SetParameter(_RATE, voice.rate, 0)
            lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
            lib.espeak_SetParameter(_RANGE, voice.range, 0)
            self._chunks, self._words = [], []
            lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, starts = self._chunks, self._words
            self._chunks, self._words = [], []
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return pcm, word_spans(text, starts, pcm, self.sample_rate)


def utterance_seed(key: str, text: str) -> int:
    """A 63-bit seed for saying `text` in the voice whose seed is `key` (job seed and role): a
    function of both alone, so every process and every order of calls gets the same audio."""
    return int.from_bytes(hashlib.sha256(f"{key}\0{text}".encode()).digest()[:8], "big") >> 1


class EspeakSpeech:
    """A persona's espeak-ng voice; the whole text is one part."""

    model = "espeak-ng"

    def __init__(self, voice: OfflineVoice, seed: str = "") -> None:
        self.voice, self.seed = voice, seed
        self._espeak = Espeak.get()
        self.sample_rate = self._espeak.sample_rate

    def parts(self, text: str) -> Iterator[tuple[np.ndarray, list[Word]]]:
        """The line's audio, paced with a speaker's pauses (see `paced`), and its words."""
        pcm, words = self._espeak.speak(text, self.voice, utterance_seed(self.seed, text))
        voice = self.voice
        yield paced(pcm, words, self.sample_rate, f"{voice.voice}:{voice.rate}:{text}",
                    min(1.4, max(0.8, 175 / max(voice.rate, 1))))
