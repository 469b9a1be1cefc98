"""Wording variety for the scripted policy: lines composed from parts, and a plan-level variant
that keeps a run from choosing the same composition twice. (Paraphrases, which give a line its
parts, are in paraphrase.py; rewording a rendered line is the named transforms' job: pipeline.py.)

A scenario line may hold alternatives, `[Hi|Hello|Good morning] {peer}, I [sent back|returned]
{item}`: every choice of parts is one composition of the beat. Conversations run in separate
processes, so instead of remembering what was said, each job carries `variant` (job.py: a
per-scenario offset drawn from the plan seed, a multiple of WALK, plus the job's occurrence
number in the plan), and the k-th conversation of a scenario takes the k-th composition of a
walk over the beat's lines in which the lines take turns and neighbouring conversations differ in
every part: until they run out, no two conversations of a run say a beat alike. The offset picks
the walk, not where on it a run starts: started at random, most runs began where only the beat's
longest line had compositions left.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
import string

from ...job import WALK
from .paraphrase import expand

ALTERNATIVES = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")
MAX_COMPOSITIONS = 20_000  # beyond this a beat is varied enough; keep the permutation small


def parts(line: str) -> list[list[str]]:
    """The alternatives of each `[a|b]` group of `line`, in order."""
    return [group.split("|") for group in ALTERNATIVES.findall(line)]


def slots(line: str) -> set[str]:
    """The `{placeholders}` of a scenario line."""
    return {f for _, f, _, _ in string.Formatter().parse(line) if f}


def compose(line: str, picks: tuple[int, ...]) -> str:
    """`line` with its k-th `[a|b]` group replaced by alternative picks[k]."""
    it = iter(picks)
    return ALTERNATIVES.sub(lambda m: m.group(1).split("|")[next(it)], line)


def compositions(lines: list[str]) -> list[tuple[int, tuple[int, ...]]]:
    """Every (line, choice of parts) of a beat, at most MAX_COMPOSITIONS of them."""
    out: list[tuple[int, tuple[int, ...]]] = []
    for i, line in enumerate(lines):
        ranges = [range(len(g)) for g in parts(line)]
        out.extend((i, picks) for picks in itertools.islice(itertools.product(*ranges), MAX_COMPOSITIONS))
    return out[:MAX_COMPOSITIONS]


def choose(lines: list[str], key: str, variant: int | None, rng: random.Random, lang: str = "") -> str:
    """One composition of a beat's `lines`. Without a variant, a random one. With one, the
    variant-th of a walk fixed by `key` (the scenario, role and beat): the lines take turns, and
    each line's compositions are visited so that neighbouring variants differ in every `[a|b]`
    group (a consecutive count's digits, each group adding the ones before it), not only the
    last: the jobs of one scenario have neighbouring variants, and a composition that changes one
    word leaves the rest of the line's 3-grams alike. No composition comes twice before every
    composition of its line has come once."""
    lines = [expand(line, lang) for line in lines]
    if variant is None:
        i, picks = rng.choice(compositions(lines))
        return compose(lines[i], picks)
    salt, step = divmod(variant, WALK)  # the run's own walk, from its start: every line takes turns first
    keyed = random.Random(hashlib.sha256(f"{key}:{salt}".encode()).hexdigest())
    order = list(range(len(lines)))
    keyed.shuffle(order)
    i, n = _line_of(step, [_count(lines[j]) for j in order])
    line = lines[order[i]]
    walked: list[int] = []
    total = 0
    for size in (len(g) for g in parts(line)):
        n, digit = divmod(n, size)
        total += digit
        walked.append((total + keyed.randrange(size)) % size)
    return compose(line, tuple(walked))


def _count(line: str) -> int:
    return math.prod(len(g) for g in parts(line))


def _line_of(variant: int, counts: list[int]) -> tuple[int, int]:
    """Which line the variant-th composition is from, and which of that line's: the lines take
    turns, a line whose compositions are all used drops out of the turn, and after all are used
    it starts again."""
    n = variant % sum(counts)
    done = 0  # compositions of each line used in full rounds so far
    for level in sorted(set(counts)):
        active = [j for j, c in enumerate(counts) if c > done]
        block = (level - done) * len(active)
        if n < block:
            return active[n % len(active)], done + n // len(active)
        n -= block
        done = level
    raise AssertionError("unreachable: n < sum(counts)")


def plain(line: str) -> str:
    """`line` with each `[a|b]` group as its first alternative (for checks that need text)."""
    return compose(line, tuple(0 for _ in parts(line)))
