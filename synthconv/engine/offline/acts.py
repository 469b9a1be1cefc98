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
_REPEAT = re.compile(r"\b(repeat (it|that|the)|say that again|didn't catch|did not catch|one more time"
                     r"|didn't understand|did not understand|come again|pardon)\b", re.I)
_WAS_THAT = re.compile(r"\bwas that\s+\S*\d|, was that it\b", re.I)  # a number asked about
_SORRY = re.compile(r"^\W*(sorry|i'm sorry|just to check)\b", re.I)  # how a short question about it starts
_DENIED = re.compile(r"^\W*(no\b(?! problem)|sorry, not|not quite|actually|that's wrong)", re.I)


@examples(("Sorry, could you repeat that?", True), ("I didn't catch the account number.", True),
          ("It's for my repeat prescription.", False), ("I'm sorry, I didn't understand that.", True))
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


# --- what an agent under test asks a caller (engine/offline/reactive.py) -------------------------

_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
# a request in statement form: "Please confirm your email.", "I'll need your postcode."
_REQUEST = re.compile(r"\b(please (give|tell|confirm|provide|spell|say|share|read)|i('ll| will| would|'d) need"
                      r"|can i (take|have|get)|could i (take|have|get)|may i (take|have)|let me (take|have|get)"
                      r"|i need your|go ahead with your)\b", re.I)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


@examples(("I'm sorry to hear that. Could I take your date of birth so I can find your record?",
           "could i take your date of birth so i can find your record?"),
          ("Thanks. Please confirm your email address.", "please confirm your email address."),
          ("Your reference is RS-7734.", ""), ("How can I help?", "how can i help?"))
def request(text: str) -> str:
    """The sentences of `text` that ask the listener something (a question, or "please
    confirm...", "I'll need..."), lower-cased; "" when it asks nothing."""
    return " ".join(s.lower() for s in _sentences(text) if "?" in s or _REQUEST.search(s))


# What a caller may be asked for, and the words an agent asks with. A fact key's topic is found
# by its words (`topic`); a key with no topic here is asked for by its own words ("pet_name").
TOPICS = {
    "name": r"\b(your|full|first|last|sur) ?name\b|who (am i|i'm) (speaking|talking) (to|with)|who('s| is) calling"
            r"|who do i have",
    "dob": r"date of birth|birth ?date|birthday|when were you born|\bd\.?o\.?b\b",
    "phone": r"phone|mobile|contact number|call ?back number|number (to|we can|i can) (reach|call)",
    "email": r"e-?mail",
    "postcode": r"post ?code|zip|postal code",
    "address": r"address",
    "account": r"account",
    "reference": r"reference|\bref\b|confirmation (number|code)|booking (number|code)|case number|ticket number"
                 r"|claim number",
    "order": r"\border\b",
    "card": r"\bcard\b",
    "policy": r"\bpolicy\b",
}
_KEY_TOPIC = {"dob": "dob", "birth": "dob", "birthday": "dob", "phone": "phone", "mobile": "phone",
              "callback": "phone", "email": "email", "postcode": "postcode", "zip": "postcode",
              "address": "address", "account": "account", "ref": "reference", "reference": "reference",
              "confirmation": "reference", "booking": "reference", "case": "reference", "ticket": "reference",
              "claim": "reference", "order": "order", "card": "card", "policy": "policy"}
_NAMES = {"name", "full_name", "first_name", "last_name", "surname", "caller_name"}
_GENERIC = {"number", "no", "id", "end", "the", "of", "new", "old"}
_SHORT = {"tx": "transaction", "txn": "transaction", "appt": "appointment", "addr": "address", "qty": "quantity",
          "reg": "registration", "dept": "department"}  # a key's abbreviations, as an agent says them


@examples(("dob", "dob"), ("date_of_birth", "dob"), ("mobile_end", "phone"), ("order_number", "order"),
          ("booking_ref", "reference"), ("account_email", "email"), ("pet_name", "pet_name"), ("ref", "reference"), ("full_name", "name"))
def topic(key: str) -> str:
    """What a fact `key` is, as an agent would ask for it: one of TOPICS, or the key itself. The
    last word that names a topic decides ("account_email" is an email)."""
    if key.lower() in _NAMES:
        return "name"
    words = key.lower().split("_")
    named = [_KEY_TOPIC[w] for w in words if w in _KEY_TOPIC]
    return named[-1] if named else key


def asks_about(text: str, key: str) -> bool:
    """Whether `text` asks the listener for the fact `key` (its topic's words, or the key's own)."""
    asked = request(text)
    if not asked:
        return False
    pattern = TOPICS.get(topic(key))
    if pattern is None:
        words = [_SHORT.get(w, w) for w in key.lower().split("_") if w not in _GENERIC]
        return bool(words) and all(re.search(rf"\b{re.escape(w)}", asked) for w in words)
    return bool(re.search(pattern, asked, re.I))


_AUX = re.compile(r"^(is|are|was|were|do|does|did|can|could|would|will|shall|should|may|have|has|had|am)\b", re.I)
_TAG = re.compile(r"\b(right|correct|okay|ok|yes|is that right|is that correct)\s*\?$", re.I)


@examples(("Dr. Patel has a slot on Thursday. Would that work?", True), ("Is that correct?", True),
          ("So that's 4417 2093, right?", True), ("What's your date of birth?", False),
          ("How can I help?", False), ("It's booked.", False))
def yes_no_question(text: str) -> bool:
    """The last question of `text` is answered with yes or no."""
    questions = [s for s in _sentences(text) if "?" in s]
    if not questions:
        return False
    last = re.sub(r"^\W*(and|so|okay|ok|great|thanks|right)\W+", "", questions[-1], flags=re.I)
    return bool(_AUX.search(last) or _TAG.search(last))


_GOODBYE = re.compile(r"\b(good ?bye|bye|have a (nice|good|great|lovely|wonderful) (day|evening|one|afternoon|weekend)"
                      r"|take care)\b", re.I)


@examples(("You're welcome, take care. Goodbye.", True), ("Have a great day!", True),
          ("Bye for now.", True), ("Goodbye, and I hope it settles soon.", True),
          ("Before you go, is there anything else?", False), ("I'll say goodbye to the old plan.", False))
def says_goodbye(text: str) -> bool:
    """`text` takes leave: its last sentence, or the one before a short closing wish, says bye."""
    sentences = _sentences(text)
    return any(_GOODBYE.search(s) and not re.search(r"\bto\b", s.split("bye")[-1] if "bye" in s else "")
               for s in sentences[-2:]) and "?" not in sentences[-1]


_MORE = re.compile(r"\b(anything|something) else\b|\belse (i|we) can\b|\bany other (questions?|way)\b", re.I)


@examples(("Is there anything else I can help you with?", True), ("Can I help with something else today?", True),
          ("What else can I do for you?", False), ("Anything else?", True), ("Your slot is Thursday.", False))
def offers_more(text: str) -> bool:
    """The agent asks whether there is anything else: the caller's next need, or its goodbye."""
    return bool(_MORE.search(request(text)))


_AFFIRM = re.compile(r"^\W*(yes|yeah|yep|sure|of course|that works|that's fine|that time is fine|fine|okay|ok"
                     r"|perfect|great|brilliant|lovely|i'll take|please do|go ahead|sounds good)\b", re.I)


@examples(("Yes, that time is fine. Should I bring anything?", True), ("That works. Do I need anything?", True),
          ("No, that's everything.", False), ("I'd rather wait for my own doctor.", False))
def affirms(text: str) -> bool:
    """`text` starts by saying yes."""
    return bool(_AFFIRM.search(text))


@examples(("Could you spell that for me?", True), ("Letter by letter, please.", True), ("It's spelled right.", False))
def asks_to_spell(text: str) -> bool:
    return bool(re.search(r"\bspell\b|letter by letter", text, re.I))


_WAIT = re.compile(r"\b(one moment|a moment|just a (sec|second|minute)|please hold|hold on|bear with me|let me (check|look|see|pull)"
                   r"|give me a (sec|second|moment)|i'll (check|look))\b", re.I)


@examples(("Please hold.", True), ("Let me check that for you.", True), ("One moment while I look.", True),
          ("Thanks, I've found you.", False))
def asks_to_wait(text: str) -> bool:
    """The agent is busy ("one moment", "let me check") and asks nothing yet."""
    return bool(_WAIT.search(text)) and not request(text).strip(" ?")
