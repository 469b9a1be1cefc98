"""When each side speaks: seeded models of turn-taking (on the local bridge every gap, overlap,
cut and backchannel; in a room the same, drawn by each agent's floor, transport/floor.py).

`strict` is a chess clock (every gap 0.15-0.8 s, nobody overlaps, nobody is cut off). `natural`
is fitted to published measurements of conversation, telephone English among them:

- Floor-transfer offsets (next speaker's start minus current speaker's end) have their mode
  near +200 ms (Stivers et al. 2009, PNAS 106:10587, ten languages, English mean 236 ms;
  Levinson & Torreira 2015, Front. Psychol. 6:731) and a wide spread into negative values:
  a large share of speaker changes happen in overlap (Heldner & Edlund 2010, J. Phonetics
  38:555, about 40 % in Dutch, Swedish and English map-task and telephone dialogue). We draw
  30 % of offsets from a peak around the mode (0.2 s, spread 0.12 s) and the rest from a
  two-piece normal with the same mode, spread 0.45 s below and 0.65 s above it, so about a
  fifth of speaker changes start in overlap, interruptions included. The two-piece normal
  alone (0.35/0.5 s, fitted first) had a top level within +-0.3 s of its mode: drawn from the
  model itself, 160 offsets (a run of 16 conversations) put the modal 100-ms bin in 0.1-0.3 s
  only 65 % of the time, and a room run's mode came out 0.7 s; with the peak, 97 %, with
  about the same share in overlap and mean gap and overlap (below).
- The spreads, and the backchannels' share and place below, are fitted to the cumulated
  durations per minute that full-duplex dialogue papers compare with Fisher telephone speech
  (dGSLM, Moshi Table 9: IPU 51.1, pause 6.4, gap 4.2, overlap 3.3 s per minute;
  labels.timing_per_minute): with spreads of 0.25/0.3 s and backchannels early in a pause the
  bridge gave gaps of 2.9 and overlap of 1.2 s per minute. Measured on 20 offline conversations,
  seed 1, `--hearing transcript` (`bench/turn_taking.py --run`): 52.8 / 5.6 / 4.0 / 3.2 s per
  minute, modal offset 0.1 s, p10/p50/p90 -0.25/0.30/0.96 s, 27 % of changes in overlap. With
  the peak, 40 conversations, default voices: gap 4.1, overlap 3.2 s per minute, modal offset
  0.2 s (kernel mode 0.27), p10/p50/p90 -0.27/0.26/0.99 s, 25.7 % in overlap (the first shape
  on the same 40: 3.9 / 3.2, 0.1 s (0.19), -0.27/0.24/0.89 s, 26.5 %).
- The speaker who is overlapped by an interruption drops out within one or two syllables
  (Schegloff 2000, Lang. Soc. 29:1): 0.15-0.45 s after the interrupter's onset.
- Listeners backchannel ("mm-hmm", "right") at the speaker's pauses, around a few times a
  minute in telephone conversation (Ward & Tsukahara 2000, J. Pragmatics 32:1177), often
  running on into the speaker's next words: at half the pauses of a long turn, from 0.4 to 1.3
  of the way through the pause (7 a minute on the bridge).

A persona's style shifts the model (hurried speakers come in early and interrupt more,
hesitant ones leave longer gaps); a scenario's `turn_taking` block scales it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..scenario import Persona, Scenario

BACKCHANNELS = {
    "en": ["mm-hmm", "right", "okay", "yeah", "uh-huh", "sure"],
    "hi": ["हाँ", "अच्छा", "जी", "हम्म"],
}


def tempo(persona: Persona) -> str:
    """"hurried", "hesitant" or "even": how a persona's style shows in its timing."""
    style = persona.style
    if style.pace == "fast" or style.mood in ("hurried", "frustrated"):
        return "hurried"
    if style.pace == "slow" or style.mood in ("tired", "anxious"):
        return "hesitant"
    return "even"


BEGUN_S = 0.03  # a word that had played less than this when its line stopped was not said
MODE_SHIFT = {"hurried": -0.05, "even": 0.0, "hesitant": 0.15}
INTERRUPT_SCALE = {"hurried": 1.8, "even": 1.0, "hesitant": 0.4}


@dataclass(frozen=True)
class Cut:
    """An interruption of a segment: the interrupter starts at `onset`, the speaker stops at
    `stop` (both seconds into the segment), having said its first `words` words."""

    onset: float
    stop: float
    words: int


class StrictTiming:
    """Today's chess clock: gaps of 0.15-0.8 s, no overlap, no backchannels, no interruptions."""

    natural = False

    def __init__(self, seed: int, scenario: Scenario, personas: dict[str, Persona], stream: str = "") -> None:
        # `stream`: in a room each agent draws alone (the role), or both would draw the same numbers
        self._seed = seed
        self._stream = f":{stream}" if stream else ""
        self._rng = random.Random(f"{seed}:timing{self._stream}")

    def lead_in(self) -> float:
        return self._rng.uniform(0.2, 0.5)

    def tail(self) -> float:
        return self._rng.uniform(0.4, 0.8)

    def offset(self, role: str, previous_s: float) -> float:
        """Seconds from the end of the previous turn (`previous_s` long) to `role`'s start."""
        return min(0.8, max(0.15, self._rng.lognormvariate(-1.1, 0.4)))

    def cut(self, role: str, words: list[tuple[float, float]]) -> Cut | None:
        """Whether the peer cuts off `role`'s segment with these word spans, and where."""
        return None

    def backchannels(self, role: str, pauses: list[tuple[float, float]]) -> list[tuple[float, str]]:
        """(seconds into the segment, token) the listener says during `role`'s pauses."""
        return []

    def barge_in(self, role: str) -> int | None:
        """In a room: after how many words of `role`'s next turn its peer cuts in, if it does (a
        turn that ends sooner is not cut)."""
        return None


class NaturalTiming(StrictTiming):
    natural = True
    MODE, BELOW, ABOVE = 0.2, 0.45, 0.65
    CORE, CORE_SPREAD = 0.3, 0.12  # the share of changes drawn near the mode, and their spread (s)
    INTERRUPTIONS = 0.15  # chance that a long enough turn is cut off, before persona scaling
    BACKCHANNEL = 0.5  # chance of a backchannel at a pause of a long turn

    def __init__(self, seed: int, scenario: Scenario, personas: dict[str, Persona], stream: str = "") -> None:
        super().__init__(seed, scenario, personas, stream)
        self._tt = random.Random(f"{seed}:turn-taking{self._stream}")
        self._tempo = {r: tempo(p) for r, p in personas.items()}
        self._peer = {r: next(o for o in personas if o != r) for r in personas}
        self._tokens = BACKCHANNELS.get(scenario.language, BACKCHANNELS["en"])
        tune = scenario.turn_taking
        self._mode = tune.offset_mode if tune.offset_mode is not None else self.MODE
        self._interruptions = self.INTERRUPTIONS * tune.interruptions
        self._backchannel = min(1.0, self.BACKCHANNEL * tune.backchannels)
        self._barge: dict[str, random.Random] = {}

    def offset(self, role: str, previous_s: float) -> float:
        mode = self._mode + MODE_SHIFT[self._tempo[role]]
        if self._tt.random() < self.CORE:
            x = self._tt.gauss(mode, self.CORE_SPREAD)
        elif self._tt.random() < self.BELOW / (self.BELOW + self.ABOVE):
            x = mode - abs(self._tt.gauss(0, self.BELOW))
        else:
            x = mode + abs(self._tt.gauss(0, self.ABOVE))
        # an overlap never starts before the middle of the turn it overlaps
        return min(2.0, max(x, -1.0, -0.5 * previous_s))

    def cut(self, role: str, words: list[tuple[float, float]]) -> Cut | None:
        chance = self._interruptions * INTERRUPT_SCALE[self._tempo[self._peer[role]]]
        if len(words) < 8 or words[-1][1] < 2.5 or self._tt.random() >= chance:
            return None
        # the peer comes in at a word that starts a stretch of speech (no pause of 50 ms or more)
        # long enough for the speaker to be heard going on before it stops
        run_end = [w[1] for w in words]
        for k in range(len(words) - 2, -1, -1):
            if words[k + 1][0] - words[k][1] < 0.05:
                run_end[k] = run_end[k + 1]
        middle = range(int(len(words) * 0.4), int(len(words) * 0.75) + 1)
        starts = [k for k in middle if run_end[k] - words[k][0] >= 0.3]
        if not starts:
            return None
        k = self._tt.choice(starts)
        onset = words[k][0]
        stop = min(run_end[k], onset + self._tt.uniform(0.15, 0.45))
        # a word that had barely begun at the stop was not said (and would be a span of no sound)
        return Cut(onset=onset, stop=stop, words=sum(1 for a, _ in words if a < stop - BEGUN_S))

    def barge_in(self, role: str) -> int | None:
        # each listener's process draws alone, so its own stream (the same seed would otherwise
        # give both sides the same draws); word 5-9 of a turn is near the local bridge's 40-75 %
        # of a turn of 8 words or more
        rng = self._barge.setdefault(role, random.Random(f"{self._seed}:barge-in:{role}"))
        chance = self._interruptions * INTERRUPT_SCALE[self._tempo[self._peer[role]]]
        words = rng.randint(5, 9)
        return words if rng.random() < chance else None

    def backchannels(self, role: str, pauses: list[tuple[float, float]]) -> list[tuple[float, str]]:
        out = []
        for a, b in pauses:
            if self._tt.random() < self._backchannel:
                out.append((a + self._tt.uniform(0.4, 1.3) * (b - a), self._tt.choice(self._tokens)))
        return out


def timing_model(mode: str, seed: int, scenario: Scenario, personas: dict[str, Persona],
                 stream: str = "") -> StrictTiming:
    if mode not in TURN_TAKING:
        raise ValueError(f"--turn-taking: unknown mode {mode!r} (choose from {', '.join(TURN_TAKING)})")
    return TURN_TAKING[mode](seed, scenario, personas, stream)


TURN_TAKING = {"natural": NaturalTiming, "strict": StrictTiming}
