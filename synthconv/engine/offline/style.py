"""Rewording by speaking style (persona.style): contractions for fast or hurried speakers and
none for formal or careful ones, softened questions for polite ones, hedges for verbose ones,
bare answers for terse ones, no "please" from rude ones. English only, "please" aside: other
languages keep the scenario's wording."""

from __future__ import annotations

import random
import re

from ...scenario import Persona
from .transform import Context, Example, Line, Transform


def formal(p: Persona) -> bool:
    return p.style.politeness == "high" and p.style.pace != "fast" and p.style.mood not in ("hurried", "frustrated")


def casual(p: Persona) -> bool:
    return p.style.pace == "fast" or p.style.mood in ("hurried", "frustrated") or p.age == "18-29"


def careful(p: Persona) -> bool:
    """Some speakers say words in full out of habit even when not formal (idiolect, seeded by id)."""
    return not casual(p) and random.Random(f"careful:{p.id}").random() < 0.35


DROP_PLEASE = Transform(
    "drop_please", lambda line, ctx: re.sub(r",? please\b", "", line.text),
    when=lambda line, ctx: ctx.persona.style.politeness == "low",
    examples=(Example("Could you check, please? And please hurry.", "Could you check? And hurry."),),
)

CONTRACTIONS = [("I am", "I'm"), ("I will", "I'll"), ("do not", "don't"), ("it is", "it's"),
                ("It is", "It's"), ("cannot", "can't"), ("you are", "you're"), ("We are", "We're"),
                ("we are", "we're"), ("that is", "that's"), ("There is", "There's"), ("is not", "isn't"),
                ("did not", "didn't"), ("I would", "I'd"), ("Let us", "Let's"), ("will not", "won't"),
                ("You are", "You're"), ("That is", "That's"), ("there is", "there's"), ("What is", "What's"),
                ("what is", "what's"), ("does not", "doesn't"), ("are not", "aren't"), ("was not", "wasn't"),
                ("could not", "couldn't"), ("would not", "wouldn't"), ("has not", "hasn't"), ("have not", "haven't"),
                ("you will", "you'll"), ("You will", "You'll"), ("we will", "we'll"), ("We will", "We'll"),
                ("it will", "it'll"), ("they are", "they're")]
# said in full by a careful speaker, never shortened by a hurried one ("I have a" is not "I've a")
EXPAND_ONLY = [("I have", "I've"), ("we have", "we've"), ("We have", "We've"), ("you have", "you've"),
               ("You have", "You've"), ("Here is", "Here's"), ("here is", "here's")]
# "it's", "that's", "I'd" before a participle are "it has", "I had": a careful speaker leaves them
PERFECT = (r"(?! (?:already |just |never |now |really |also )?(?:\w+ed|\w+en|been|got|gone|come|had|become|"
           r"left|brought|hit|put|made|sent|done|seen|said|told|paid|bought|lost|found|run|set|cut|sold|won)\b)")
# one pattern per pair, applied in the table's order (an earlier pair can take a later one's words)
_IN_FULL = [(re.compile(rf"\b{re.escape(short)}\b" + (PERFECT if short.endswith(("'s", "'d")) else "")), long)
            for long, short in CONTRACTIONS + EXPAND_ONLY]
_CONTRACTED = [(re.compile(rf"\b{re.escape(long)}\b(?![.,!?]|$)"), short) for long, short in CONTRACTIONS]


def _sub_all(pairs: list[tuple[re.Pattern, str]], text: str) -> str:
    for pattern, repl in pairs:
        text = pattern.sub(repl, text)
    return text


IN_FULL = Transform(
    "in_full", lambda line, ctx: _sub_all(_IN_FULL, line.text),
    when=lambda line, ctx: ctx.english and ((formal(ctx.persona) and ctx.chance(0.7))
                                            or (careful(ctx.persona) and ctx.chance(0.6))),
    examples=(Example("I'm sorry, I don't have it. It's fine.", "I am sorry, I do not have it. It is fine."),
              Example("It's been a week. What's happened? I'd already paid.",
                      "It's been a week. What's happened? I'd already paid.", "'s/'d before a participle: has, had"),
              Example("I've a question.", "I have a question.")),
)

CONTRACT = Transform(
    "contract", lambda line, ctx: _sub_all(_CONTRACTED, line.text),
    when=lambda line, ctx: ctx.english and "in_full" not in ctx.fired and casual(ctx.persona),
    examples=(Example("I am sure it is fine. Yes, it is.", "I'm sure it's fine. Yes, it is.",
                      "not at a sentence's end"),
              Example("I have a question.", "I have a question.", "EXPAND_ONLY: not 'I've a question'"),
              Example("What is not clear?", "What isn't clear?", "in the table's order: 'is not' before 'what is'")),
)

_POLITE_ASK = [(re.compile(r"^(Can|Could) you\b"), r"Would you mind if I asked you to"),
               (re.compile(r"^What's\b"), "May I ask what's"),
               (re.compile(r"^Can I (have|get)\b"), r"Could I please \1")]


def _polite_ask(line: Line, ctx: Context) -> str:
    for pattern, repl in _POLITE_ASK:  # the first that applies
        new = pattern.sub(repl, line.text)
        if new != line.text:
            return new
    return line.text


POLITE_ASK = Transform(
    "polite_ask", _polite_ask,
    when=lambda line, ctx: ctx.english and ctx.persona.style.politeness == "high" and ctx.chance(0.5),
    examples=(Example("Can you check it?", "Would you mind if I asked you to check it?"),
              Example("What's the date?", "May I ask what's the date?"),
              Example("Can I get the number?", "Could I please get the number?"),
              Example("So can you check it?", "So can you check it?", "only at the line's start")),
)

HEDGES = ["I think ", "As far as I can tell, ", "Just so you know, ", "To be honest, ", "Basically, "]
HEDGEABLE = {"the", "that", "it", "it's", "your", "you", "you'll", "we", "we've", "we'll", "there", "there's",
             "this", "our", "my", "so", "everything", "nothing"}

HEDGE = Transform(
    "hedge", lambda line, ctx: ctx.pick(HEDGES) + line.text[0].lower() + line.text[1:],
    when=lambda line, ctx: (ctx.english and ctx.persona.style.verbosity == "verbose" and ctx.chance(0.35)
                            and line.text.split(" ", 1)[0].rstrip(",.!?").lower() in HEDGEABLE),
    examples=(Example("The bill is wrong.", "I think the bill is wrong."),),
)

_ACKNOWLEDGEMENT = re.compile(r"^(?:Okay|Alright|Right|Sure|Great|Perfect|Thanks|Thank you|Got it|Understood)[,.!]\s+")


def _terse(line: Line, ctx: Context) -> str:
    trimmed = _ACKNOWLEDGEMENT.sub("", line.text)
    return trimmed[0].upper() + trimmed[1:] if trimmed and trimmed != line.text else line.text


TERSE = Transform(
    "terse", _terse,
    when=lambda line, ctx: ctx.english and ctx.persona.style.verbosity == "terse",
    examples=(Example("Okay, it's 60614.", "It's 60614."), Example("Thanks.", "Thanks.", "a bare answer stays")),
)
