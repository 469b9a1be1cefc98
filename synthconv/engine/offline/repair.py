"""Hearing repair: what a scripted agent says when a number did not come through (issue 16). One
of three repairs of the offline policy, the others being resuming a line the peer cut off
(resume.py) and a self-repair ("my account, I mean my account number": disfluency.py).

With a real recognizer an agent can mishear the account number it is about to read back. A
person on the phone then asks again ("Sorry, was that 4417 293?"), and the other side corrects
them ("No, it's 4417 2093."). The policy asks this module before each beat; it answers with such
a line, or None to play the beat. Three moves, each judged on what was *heard* (read with acts.py):

- ask: the next beat reads back an ID the peer just gave, and no ID came through, or one of a
  shape the peer's IDs never have (an 8-digit account number heard with 7 digits): ask again;
- correct: the peer read back or asked about one of my IDs, and what I heard is close to it but
  not it: say it again;
- acknowledge: I read back an ID and heard a correction with another one: take it.

Each role makes at most MAX_REPAIRS such turns per call and none near the turn limit, so a
number that keeps being misheard costs a few turns, never a loop.
"""

from __future__ import annotations

import random
import re
from difflib import SequenceMatcher

from ...scenario import Beat, Scenario
from .acts import asks_about_number, asks_to_repeat, corrects, digit_groups, digits, id_tokens
from .wording import slots

MAX_REPAIRS = 2  # repair turns per role and call
ROOM = 4  # turns that must remain before the scenario's limit for a repair to start
ASK_AGAIN = ["Sorry, I didn't catch the {what}. Could you repeat it?", "Sorry, could you repeat the {what}?",
             "I'm sorry, the line cut out. Could you say that again, the {what}?"]
CONFIRM_HEARD = ["Sorry, was that {heard}?", "Just to check, was that {heard}?", "Sorry, {heard}, was that it?"]
CORRECT = ["No, it's {value}.", "Sorry, not quite, it's {value}.", "Actually it's {value}."]
REPEAT_ANSWER = ["Sure, once more, it's {value}.", "Of course. It's {value}."]
CONFIRMED = ["Yes, that's right, {value}.", "Yes, {value}, that's it."]
ACKNOWLEDGE = ["My apologies, {heard}. Got it.", "Thanks for correcting me, {heard}. Got it."]
# every line above, as a pattern: how a reader (bench/generate.py) finds the repair turns
CLARIFICATION = re.compile("^(?:" + "|".join(
    re.sub(r"\\{\w+\\}", ".+", re.escape(t))
    for t in ASK_AGAIN + CONFIRM_HEARD + CORRECT + REPEAT_ANSWER + CONFIRMED + ACKNOWLEDGE) + ")$")


def close(a: str, b: str) -> bool:
    """Two digit strings one could mishear as each other: about as long, mostly the same digits."""
    return abs(len(a) - len(b)) <= 2 and SequenceMatcher(None, a, b).ratio() >= 0.6


def _what(key: str) -> str:
    """A fact key as said on a call: order_number -> "order number", account -> "account number"."""
    words = [{"id": "ID", "ref": "reference", "mc": "MC"}.get(w, w) for w in key.split("_")]
    if words[-1] not in ("number", "ID", "reference", "code"):
        words.append("number")
    return " ".join(words)


class HearingRepair:
    """One role's repair moves in one call (the policy holds one)."""

    def __init__(self, scenario: Scenario, role: str, facts: dict[str, str], seed: int) -> None:
        self.scenario = scenario
        self.role = role
        self.seed = seed
        self.beats = [b for b in scenario.script if b.role == role]
        peer = next(r for r in scenario.roles if r != role)
        # in the facts' order: a set's order follows the interpreter's hash seed, and "which number
        # to ask about" must follow the conversation's seed alone
        self.peer_ids = [k for k, v in scenario.roles[peer].facts.items()
                         if any(id_tokens(x) for x in (v if isinstance(v, list) else [v]))]
        self.peer_pools = scenario.roles[peer].facts
        self.my_ids = [(v, digits(id_tokens(v)[0])) for v in facts.values() if id_tokens(v)]
        self.lines: set[str] = set()  # the repair lines this role said

    def done(self, said: list[str]) -> int:
        """How many of the lines this role said were repairs (they do not advance its script)."""
        return sum(s in self.lines for s in said)

    def next(self, said: list[str], last_heard: str, turns_so_far: int) -> str | None:
        """A repair line to say instead of the next beat, or None."""
        if (self.scenario.language != "en" or self.done(said) >= MAX_REPAIRS or not last_heard.strip()
                or self.scenario.turns.left(turns_so_far) <= ROOM):
            return None
        rng = random.Random(f"{self.seed}:{self.role}:repair:{len(said)}")
        index = len(said) - self.done(said)  # the next beat of mine
        line = (self._correct(said, last_heard, self._read_back_due(said, index), rng)
                or self._acknowledge(said[-1] if said else "", last_heard, rng))
        if line is None and index < len(self.beats):
            line = self._ask(self.beats[index], last_heard, rng)
        if line is not None:
            self.lines.add(line)
        return line

    def _read_back_due(self, said: list[str], index: int) -> bool:
        """Whether the peer's last line was meant to read back what I said: the script's beat
        after my last one has a read-back, or I had just repeated or corrected an ID."""
        if said and said[-1] in self.lines:
            return True
        if not 0 < index <= len(self.beats):
            return False
        script = self.scenario.script
        at = next(i for i, b in enumerate(script) if b is self.beats[index - 1])
        return at + 1 < len(script) and any("echo" in slots(s) for s in script[at + 1].say)

    def _correct(self, said: list[str], heard: str, read_back: bool, rng: random.Random) -> str | None:
        """The peer read back, asked about or asked again for an ID I gave: set it right, confirm
        it, or say it again."""
        last = said[-1] if said else ""
        mine, want = next(((v, d) for v, d in self.my_ids if v in last), (None, ""))
        if mine is None:  # asked again for something I said before
            if not asks_to_repeat(heard):
                return None
            mine = next((v for s in reversed(said) for v, _ in self.my_ids if v in s), None)
            return rng.choice(REPEAT_ANSWER).format(value=mine) if mine else None
        groups = digit_groups(heard)
        asked = asks_about_number(heard)
        if want in groups:
            return rng.choice(CONFIRMED).format(value=mine) if asked else None
        if groups and (asked or read_back and any(close(want, g) for g in groups)):
            return rng.choice(CORRECT).format(value=mine)
        if asks_to_repeat(heard):
            return rng.choice(REPEAT_ANSWER).format(value=mine)
        return None

    def _acknowledge(self, last_said: str, heard: str, rng: random.Random) -> str | None:
        """I read back an ID and the peer said no, with another one: take theirs."""
        read_back = {digits(t) for t in id_tokens(last_said)}
        if not read_back or last_said in self.lines or not corrects(heard):
            return None
        other = next((t for t in id_tokens(heard) if digits(t) not in read_back), None)
        return rng.choice(ACKNOWLEDGE).format(heard=other) if other else None

    def _ask(self, beat: Beat, heard: str, rng: random.Random) -> str | None:
        """The next beat reads back an ID the peer's last beat gave: did it come through?"""
        if not any("echo" in slots(s) for s in beat.say):
            return None
        script = self.scenario.script
        at = next(i for i, b in enumerate(script) if b is beat)
        given = script[at - 1] if at else None
        if given is None:
            return None
        keys = [k for k in self.peer_ids if any(k in slots(s) for s in given.say)]
        if not keys:
            return None
        # the read-back is the longest ID heard: it should have the shape of the longest ID asked for
        lengths = {k: {len(digits(id_tokens(v)[0])) for v in self._pool(k) if id_tokens(v)} for k in keys}
        shapes = lengths[max(keys, key=lambda k: max(lengths[k]))]
        tokens = id_tokens(heard)
        if tokens and len(digits(tokens[0])) not in shapes:
            return rng.choice(CONFIRM_HEARD).format(heard=tokens[0])
        always_given = all(any(k in slots(s) for k in keys) for s in given.say)
        if not tokens and always_given:
            return rng.choice(ASK_AGAIN).format(what=_what(keys[0]))
        return None

    def _pool(self, key: str) -> list[str]:
        pool = self.peer_pools[key]
        return pool if isinstance(pool, list) else [pool]
