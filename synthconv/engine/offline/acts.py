"""Dialogue acts: what a heard line *is*, read from its words. The policy and the hearing repair
(repair.py) read what they heard only through this module: an ID read out, a name introduced, a
question, a request to say it again, a question about a number, a correction. The wording's
invariant is stated with it too: no rewording makes a line read as a repair
(tests/engine/offline/test_transforms.py). Each act has its examples beside it, as
(text, what it reads) pairs; the same test runs them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

EXAMPLES: dict[Callable, tuple[tuple[Any, Any], ...]] = {}  # act -> (text, what it reads), run as one table


def examples(*pairs: tuple[Any, Any]) -> Callable[[Callable], Callable]:
    """Record an act's examples beside it."""
    def record(act: Callable) -> Callable:
        EXAMPLES[act] = pairs
        return act

    return record


# --- an ID read out: an account, order, load or reference number -----------------------------

# Two readings, kept apart because each decides lines already said with the same seed (one
# reading for both would change them):
# the one the policy reads back ({echo}): a prefix with or without its hyphen ("LD-48213",
# "LD48213"), digits after a prefix not spaced
ECHOED_ID = re.compile(r"[A-Z]{1,4}-?\d[\d-]*|\d[\d -]*\d")
# the one the hearing repair compares: a prefix only with its hyphen, digit groups spaced or not
SPOKEN_ID = re.compile(r"(?:[A-Z]{1,4}-)?\d[\d -]*\d")


def ungroup(text: str) -> str:
    """Digits as a script writes them: a recognizer hears "four thousand four hundred seventeen,
    two thousand ninety-three" and writes "4,417, 2,093"."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return re.sub(r"(?<=\d), (?=\d)", " ", text)


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@examples(("Sure, it's 4417 2093.", "4417 2093"), ("The load is LD-48213, going to Dallas.", "LD-48213"),
          ("It's LD48213.", "LD48213"), ("4,417, 2,093 it is", "4417 2093"), ("no numbers here", None),
          ("Room 12.", None))
def echo_token(text: str) -> str | None:
    """The longest ID (three digits or more) in what was just heard: what the policy reads back."""
    found = [m.group(0).strip(" -") for m in ECHOED_ID.finditer(ungroup(text))]
    found = [f for f in found if sum(c.isdigit() for c in f) >= 3]
    return max(found, key=len) if found else None


@examples(("Sure, it's 4417 2093.", ["4417 2093"]), ("It's LD48213.", ["48213"]),
          ("LD-4821 3093 or 555", ["LD-4821 3093", "555"]), ("Room 12.", []))
def id_tokens(text: str) -> list[str]:
    """The IDs (three digits or more) in `text`, most digits first."""
    found = [m.group(0).strip(" -") for m in SPOKEN_ID.finditer(ungroup(text))]
    return sorted((f for f in found if len(digits(f)) >= 3), key=lambda f: len(digits(f)), reverse=True)


@examples(("Sorry, was that 4,417, 293?", {"4417", "293", "4417293"}))
def digit_groups(text: str) -> set[str]:
    """The digits of every number in `text`, and of every two in a row: "4417 293" may be the
    account number 4417 2093 or a mangled part of it."""
    groups = re.findall(r"\d+", ungroup(text))
    groups += [a + b for a, b in zip(groups, groups[1:])] + [digits(t) for t in id_tokens(text)]
    return {g for g in groups if len(g) >= 3}


# --- a name introduced --------------------------------------------------------------------------

INTRODUCTIONS = [
    re.compile(r"\b(?:my name is|this is|I'm|I am|name's)\s+([A-Z][a-z]+)"),
    re.compile(r"(?:मेरा नाम|मैं)\s+(\S+?)(?:\s+(?:है|हूँ|बोल))"),
]
NOT_NAMES = {"Sorry", "Just", "Calling", "Not", "So", "Here", "Glad", "Happy"}  # "I'm Sorry", "this is Just"


@examples((["Thank you for calling Northwind, my name is Maya Chen."], "Maya"),
          (["नमस्ते, मेरा नाम फ़ैज़ान है।"], "फ़ैज़ान"), (["I'm sorry to hear that."], None),
          (["Hi, I'm Just calling about it."], None))
def peer_name(heard: list[str]) -> str | None:
    """The first name the peer introduced itself with, if it did."""
    for text in heard:
        for pattern in INTRODUCTIONS:
            for m in pattern.finditer(text):
                if m.group(1) not in NOT_NAMES:
                    return m.group(1).rstrip(".,!?।")
    return None


# --- questions, requests to say it again, corrections -------------------------------------------

@examples(("Could you read it to me?", True), ("I'll read it to you.", False))
def is_question(text: str) -> bool:
    return "?" in text


# "repeat it", not "your repeat prescription"
_REPEAT = re.compile(r"\b(repeat (it|that|the)|say that again|didn't catch|did not catch|one more time)\b", re.I)
_WAS_THAT = re.compile(r"\bwas that\s+\S*\d|, was that it\b", re.I)  # a number asked about
_SORRY = re.compile(r"^\W*(sorry|i'm sorry|just to check)\b", re.I)  # how a short question about it starts
_DENIED = re.compile(r"^\W*(no\b(?! problem)|sorry, not|not quite|actually|that's wrong)", re.I)


@examples(("Sorry, could you repeat that?", True), ("I didn't catch the account number.", True),
          ("It's for my repeat prescription.", False))
def asks_to_repeat(text: str) -> bool:
    return bool(_REPEAT.search(text))


@examples(("Sorry, was that 4417 293?", True), ("Sorry, 4417 293, was that it?", True),
          ("Just to check, was that 4417 2093?", True), ("Sorry for the wait.", True),
          ("Sorry, I've been on hold for a very long time and I want this done.", False),
          ("Was that the last bill?", False))
def asks_about_number(text: str) -> bool:
    """"Sorry, was that 4417 293?", "Just to check, ..." (a short line starting with "Sorry")."""
    return bool(_WAS_THAT.search(text) or (_SORRY.search(text) and len(text.split()) <= 10))


@examples(("No, it's 4417 2093.", True), ("Actually it's 2093.", True), ("Sorry, not quite, it's 2093.", True),
          ("No problem at all.", False), ("Not a problem.", False), ("Nothing else, thanks.", False))
def corrects(text: str) -> bool:
    """The line starts by saying no to what was said before: "No, it's ...", "Actually ..."."""
    return bool(_DENIED.search(text))


@examples(("No, it's 2093.", True), ("Sorry, could you say that again?", True),
          ("Sorry to hear that.", True), ("Apologies for the wait.", False), ("As I was saying, it's 2093.", False))
def reads_as_repair(text: str) -> bool:
    """The hearing repair would take this line for a correction or a question about a number."""
    return corrects(text) or asks_about_number(text) or asks_to_repeat(text)
