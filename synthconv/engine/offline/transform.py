"""Named text transforms: every rule that rewords a line of the offline policy (spelling, style,
a speaker's habits, disfluency, saying a cut line again) is a `Transform` record with its
condition, its rewrite and its examples beside it; pipeline.py runs them in a declared order.

A `Line` is the text with what must come through whole: the speaker's facts and the names that
keep their capital. It is tokenized by one function (`Line.words`, once per text: each rewrite
makes a new Line), so no rule finds the facts or the IDs on its own.

A rule's chances and choices come from the call's seeded RNG, drawn in pipeline order: the same
seed gives the same line. Examples are read with every chance taken and the first of every
choice (tests/engine/offline/test_transforms.py runs them all as one table); an example with a
`why` shows an exception or a condition.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ...scenario import Persona

T = TypeVar("T")


@dataclass(frozen=True)
class Word:
    text: str
    fact: bool  # part of one of the speaker's facts said in the line

    @property
    def plain(self) -> bool:
        """No digits, capitals or punctuation: safe to repeat or retract (never part of an ID such
        as "MC 752301", a name, or a sentence end); "I" is a word."""
        return self.text == "I" or not any(c.isdigit() or c.isupper() or c in ",.?!।;:$%-'\"" for c in self.text)

    @property
    def free(self) -> bool:
        """Neither protected (a fact, an ID, a name) nor punctuated."""
        return self.plain and not self.fact


@dataclass(frozen=True)
class Line:
    text: str
    names: frozenset[str] = frozenset()  # words that keep their capital: the names in facts ("Eastgate Medical")
    facts: tuple[str, ...] = ()  # values said whole: an amount or a name is never split

    def said(self, text: str) -> Line:
        return replace(self, text=text)

    @functools.cached_property
    def words(self) -> tuple[Word, ...]:
        """The whitespace-separated words, each marked if it belongs to a fact said in the line."""
        fact: set[int] = set()
        for value in self.facts:
            at = self.text.find(value) if value.strip() else -1
            if at >= 0:
                first = len(self.text[:at].split())  # words before the value
                if at and not self.text[at - 1].isspace():
                    first -= 1  # it starts inside a word: "(₹299)"
                fact.update(range(first, first + len(value.split())))
        return tuple(Word(w, i in fact) for i, w in enumerate(self.text.split()))


@dataclass
class Context:
    """Who says the line and how the dice fall: one per rendered line."""

    persona: Persona
    lang: str
    rng: random.Random
    peer: str | None = None  # the peer's name, once heard
    first: bool = False  # the role's first line of the call
    fired: set[str] = field(default_factory=set)  # the transforms that applied to this line so far

    @property
    def english(self) -> bool:
        return self.lang == "en"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def fork(self, salt: str) -> Context:
        """A context with an RNG of its own, seeded by one draw of this one."""
        return replace(self, rng=random.Random(f"{self.rng.random()}:{salt}"), fired=set())


@dataclass(frozen=True)
class Example:
    given: str
    said: str
    why: str = ""  # the condition or exception it shows
    style: dict[str, str] = field(default_factory=dict)  # the speaker's style, over a calm normal one
    persona: dict[str, str] = field(default_factory=dict)  # and other persona fields ("gender")
    lang: str = "en"
    names: frozenset[str] = frozenset()
    facts: tuple[str, ...] = ()
    peer: str | None = None


def always(line: Line, ctx: Context) -> bool:
    return True


@dataclass(frozen=True)
class Transform:
    name: str
    rewrite: Callable[[Line, Context], str]  # the new text
    when: Callable[[Line, Context], bool] = always  # may draw a chance: it runs in pipeline order
    examples: tuple[Example, ...] = ()

    def __call__(self, line: Line, ctx: Context) -> Line:
        if not self.when(line, ctx):
            return line
        ctx.fired.add(self.name)
        return line.said(self.rewrite(line, ctx))


def run(transforms: tuple[Transform, ...], line: Line, ctx: Context) -> Line:
    for transform in transforms:
        line = transform(line, ctx)
    return line
