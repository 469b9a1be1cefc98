"""How a composed line is written: spacing, capitals and stops (any language)."""

from __future__ import annotations

import re

from .transform import Example, Transform

TIDY = Transform(
    "tidy", lambda line, ctx: re.sub(r"\s+([,.?!])", r"\1", line.text).strip(),
    examples=(Example("Hi , Maya . It's done ! ", "Hi, Maya. It's done!", "an empty {peer} leaves a space"),),
)

# a fact that starts a sentence ("the 8:10 tomorrow") starts with a capital; "6 a.m. tomorrow" stays
_SENTENCE_START = re.compile(r"(^|\b[A-Za-z]{2,}[.!?] )([a-z])")
SENTENCE_CASE = Transform(
    "sentence_case", lambda line, ctx: _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), line.text),
    examples=(Example("the Grandview Inn. Done. the 8:10 tomorrow, at 6 a.m. tomorrow.",
                      "The Grandview Inn. Done. The 8:10 tomorrow, at 6 a.m. tomorrow.",
                      "not after an abbreviation"),),
)

ONE_STOP = Transform(  # a fact "8 a.m." ending a sentence: one stop
    "one_stop", lambda line, ctx: re.sub(r"(?<=\w\.\w\.)\.(?!\.)", "", line.text),
    examples=(Example("It opens at 8 a.m.. See you.", "It opens at 8 a.m. See you."),
              Example("It opens at 8 a.m... maybe.", "It opens at 8 a.m... maybe.", "an ellipsis stays")),
)

TITLES = {"Dr", "Mr", "Mrs", "Ms", "Miss"}


def lower_first(text: str, keep: frozenset[str] = frozenset()) -> str:
    """`text` with its first word lower-cased, as after a filler or an opener ("Um, it's fine"),
    unless it is "I...", a name in `keep`, a title, or not a capitalised word ("ID", "4417")."""
    first = text.split(" ", 1)[0]
    bare = re.sub(r"['’]s$", "", first.rstrip(",.!?:;"))  # "Poppy's" is Poppy, "Dr." is Dr
    if (len(first) > 1 and first[0].isupper() and first[1:].islower() and not re.match(r"I['’]", first)
            and bare not in {k.rstrip(",.!?:;") for k in keep} | TITLES):
        return text[0].lower() + text[1:]
    return text
