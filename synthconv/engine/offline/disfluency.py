"""Disfluency, as the persona's `fillers` style says: a filler before the line ("Um, it's ..."),
and under natural turn-taking one repetition ("I I need") or one self-repair ("my account, I mean
my account number") near its start. Never inside one of the speaker's facts, an ID or a name:
an amount or a name is said whole. runfolder/labels.py finds every one of them again."""

from __future__ import annotations

from .spelling import lower_first
from .transform import Context, Example, Line, Transform

FILLERS = {
    "en": ["Um,", "Uh,", "Well,", "So,", "Okay, so", "Right,", "Hmm,"],
    "hi": ["अच्छा,", "देखिए,", "मतलब,", "हम्म,", "जी,"],
}
P_FILLER = {"none": 0.0, "some": 0.3, "many": 0.65}
# chance per line of a repetition and of a self-repair
DISFLUENT = {"none": (0.0, 0.0), "some": (0.12, 0.05), "many": (0.25, 0.12)}
SELF_REPAIR_MARKER = {"en": "I mean", "hi": "मेरा मतलब"}  # as runfolder/labels.py's REPAIR_MARKERS

FILLER = Transform(
    "filler", lambda line, ctx: f"{ctx.pick(FILLERS[ctx.lang])} {lower_first(line.text, line.names)}",
    when=lambda line, ctx: ctx.chance(P_FILLER[ctx.persona.style.fillers]),
    examples=(Example("It's fine.", "Um, it's fine."), Example("I'll try.", "Um, I'll try.", "'I' keeps its capital"),
              Example("Dr. Adeyemi can see her.", "Um, Dr. Adeyemi can see her.", "a title keeps it"),
              Example("Poppy's leg is worse.", "Um, Poppy's leg is worse.", "a name keeps it",
                      names=frozenset({"Poppy"})),
              Example("ठीक है।", "अच्छा, ठीक है।", lang="hi")),
)


def repeatable(line: Line) -> list[int]:
    """The words a repetition may say twice: free words among the first six."""
    return [i for i, w in enumerate(line.words[:6]) if w.free]


def _repeat(line: Line, ctx: Context) -> str:
    words = [w.text for w in line.words]
    i = ctx.pick(repeatable(line))
    words.insert(i + 1, words[i])
    return " ".join(words)


REPETITION = Transform(
    "repetition", _repeat,
    when=lambda line, ctx: bool(repeatable(line)) and ctx.chance(DISFLUENT[ctx.persona.style.fillers][0]),
    examples=(Example("I need to pay it.", "I I need to pay it."),
              Example("MC 752301 is mine.", "MC 752301 is is mine.", "not an ID, a name or a word before a stop"),
              Example("a gift card please", "a gift card card please", "nor inside a fact", facts=("a gift",))),
)


def retractable(line: Line) -> list[int]:
    """The words a self-repair may retract with the word before them: both free, near the start."""
    words = line.words
    return [i for i in range(1, min(len(words) - 2, 8)) if words[i].free and words[i - 1].free]


def _retract(line: Line, ctx: Context) -> str:
    words = [w.text for w in line.words]
    i = ctx.pick(retractable(line))  # words[i-1:i+1] are said, retracted and said again
    words[i + 1: i + 1] = [SELF_REPAIR_MARKER[ctx.lang], words[i - 1], words[i]]
    words[i] += ","
    return " ".join(words)


SELF_REPAIR = Transform(  # one of the two per line at most
    "self_repair", _retract,
    when=lambda line, ctx: ("repetition" not in ctx.fired and bool(retractable(line))
                            and ctx.chance(DISFLUENT[ctx.persona.style.fillers][1])),
    examples=(Example("I need my account number.", "I need, I mean I need my account number."),
              Example("It was my account number.", "It was my, I mean was my account number.",
                      "not 'It': a capitalised word is not retracted")),
)

ONE_SPACE = Transform(  # what a repetition or a self-repair returns; the line gets it when neither fires
    "one_space", lambda line, ctx: " ".join(line.text.split()),
    examples=(Example(" It's  done. ", "It's done."),),
)
