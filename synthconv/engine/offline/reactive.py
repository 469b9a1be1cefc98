"""The caller that reacts: the offline policy of a role whose peer is somebody else's agent.

A scripted caller cannot follow its script against an agent it does not know: the agent asks
its own questions in its own order. This policy keeps the scripted one's voice (its wording,
style and disfluency transforms) but decides what to say from what it was just asked, read with
acts.py:

- a question about one of its facts (name, date of birth, account, phone, email, postcode, ...)
  is answered from its facts, with the scenario's own answer line for that fact when it has one;
  asked again for a fact it gave, or to spell it, it says it again slowly, letter by letter;
- a read-back of one of its IDs is confirmed, or corrected when a digit is wrong;
- a yes/no question is answered yes (with its next need, when that need starts with a yes);
- its needs are its own beats of the script that are not answers (the request it calls about,
  the follow-up questions): it raises the first when the agent opens, the next when the agent
  has answered or asks "anything else?";
- an agent that says a line it said before, or asks to hear it again, hears the last need again;
- it ends politely when every need is raised and answered (`goal met`), when the agent says
  goodbye, when the agent stalls (silent after a "Hello?", or saying the same line three times)
  and on the scenario's last turn.

A stall is seen as a turn asked of the policy with nothing heard since its last line: the
transport asks for one when the agent stays silent (transport/caller.py).
"""

from __future__ import annotations

import random
import re

from livekit.agents import llm

from ...recording import normalize
from ...scenario import Beat
from . import acts, pipeline
from .policy import DialoguePolicy
from .repair import close
from .transform import Context, Line, run
from .wording import choose, slots

ANSWER = ["It's {value}.", "Sure, it's {value}.", "Yes, it's {value}.", "{value}."]
ANSWER_WHAT = ["My {what} is {value}.", "Sure, my {what} is {value}."]
AGAIN = ["Sure, once more: {value}.", "Of course. It's {value}.", "Let me say it slowly: {value}."]
CONFIRMED = ["Yes, that's right.", "Yes, that's correct.", "That's right, yes."]
CORRECTED = ["No, sorry, it's {value}.", "Not quite, it's {value}.", "No, it's {value}."]
YES = ["Yes, please.", "Yes, that's fine.", "Yes.", "Yeah, that works."]
UNSURE = ["I'm not sure, to be honest.", "I don't know, sorry.", "Sorry, I don't have that to hand."]
HELLO = ["Hello? Are you still there?", "Sorry, hello? Can you hear me?", "Hello? Is anyone there?"]
STALLED = ["I think we've been cut off. I'll call back later, goodbye.",
           "Sorry, I'll try again later. Goodbye.", "I'll call back another time. Bye."]
WAITING = ["Sure.", "Okay.", "No problem.", "Sure, take your time."]
BYE = ["Okay, thanks. Bye.", "Alright, goodbye.", "Thanks, bye then."]  # taking leave before the goal is met
NO_MORE = ["No, that's everything, thanks.", "No, that's all, thank you.", "That's it, thanks."]
REPEATS_TO_STALL = 3  # the agent says the same line this many times: it is stuck


def ids(value: str) -> list[re.Match]:
    """The IDs said in `value` (an account, a reference, a phone number): three digits or more,
    not a year and not an amount ("the 14th of July 1991", "$312.40" have none)."""
    def is_id(m: re.Match) -> bool:
        ident, before, after = m.group(0), value[:m.start()], value[m.end():]
        return not (sum(c.isdigit() for c in ident) < 3 or re.fullmatch(r"(19|20)\d\d", ident)
                    or before[-1:] in ("$", "£", "€", "₹") or after[:1] in ".," and after[1:2].isdigit())
    return [m for m in acts.SPOKEN_ID.finditer(value) if is_id(m)]


def spell(value: str) -> str:
    """`value` said slowly: an ID's letters and digits one by one ("RS-7734" -> "R S, 7 7 3 4"),
    an email's dots and at-sign as words; dates, years, amounts and words as they are."""
    if "@" in value:
        return re.sub(r"\s+", " ", value.replace(".", " dot ").replace("@", " at ")).strip()
    out, at = [], 0
    for m in ids(value):
        one_by_one = ", ".join(" ".join(c for c in part if c.isalnum()) for part in re.split(r"[-\s]+", m.group(0)) if part)
        out += [value[at:m.start()], one_by_one]
        at = m.end()
    return "".join(out) + value[at:]


def spell_name(name: str) -> str:
    """A name letter by letter: "Maria Lopez" -> "Maria Lopez, L O P E Z"."""
    last = name.split()[-1]
    return f"{name}, {' '.join(c.upper() for c in last if c.isalpha())}"


class ReactivePolicy(DialoguePolicy):
    """The offline policy of a caller whose peer is an agent under test (see the module)."""

    def __init__(self, **kw) -> None:  # noqa: ANN003 - DialoguePolicy's own keywords
        super().__init__(**kw)
        own = self.beats
        self.closing = next((b for b in reversed(own) if b.phase == "closing"), own[-1])
        # answers: the lines that say a fact when asked (verification); needs: everything else it came to say
        self.answers = [b for b in own if b.phase == "verification"]
        self.needs = needs_of(own)
        self.raised = 0  # needs said so far
        self.given: dict[str, int] = {}  # fact key -> times said
        self.stalls = 0  # turns asked of us with nothing heard since our last line
        self.reason: str | None = None  # why the call ends, once it does

    # --- what to say -------------------------------------------------------------------------

    def _next_line(self, chat_ctx: llm.ChatContext) -> str:  # noqa: C901, PLR0912
        if self.call.ending_role is not None:
            return ""
        messages = [m for m in chat_ctx.messages() if m.role in ("user", "assistant")]
        said = [m.text_content or "" for m in messages if m.role == "assistant"]
        heard_all = [m.text_content or "" for m in messages if m.role == "user"]
        last = ""
        for m in reversed(messages):
            if m.role == "assistant":
                break
            last = (m.text_content or "") + " " + last
        last = last.strip()
        n = len(said)
        rng = random.Random(f"{self.seed}:{self.role}:react:{n}")
        peer = acts.peer_name(heard_all)
        first = n == 0
        if self.scenario.turns.left(len(said) + len(heard_all)) <= 1:
            return self._close(rng, peer, "turn limit")
        if not last:
            if first and self.role == self.scenario.first_speaker:
                return self._raise(rng, peer, first=True)
            self.stalls += 1
            if self.stalls > 1 or first:
                return self._close(rng, peer, "stalled", line=rng.choice(STALLED))
            return self._say(rng.choice(HELLO), rng, peer)
        self.stalls = 0
        if acts.says_goodbye(last):
            met = self.raised >= len(self.needs)
            return self._close(rng, peer, "goodbye", line=None if met else rng.choice(BYE))
        again = self._repeats(heard_all)
        if again >= REPEATS_TO_STALL:
            return self._close(rng, peer, "stalled", line=rng.choice(STALLED))
        cut = self.call.interrupted.pop(self.role, None)
        if cut is not None and self.raised and any(cut.strip() and cut.strip() in s for s in said[-1:]):
            self.raised -= 1  # the need we were raising was cut off: raise it again

        if acts.asks_to_wait(last):
            return self._say(rng.choice(WAITING), rng, peer)
        answer = self._answer(last, rng)
        asked = acts.request(last)
        if answer is None and self.raised and (again > 1 and not asked or acts.asks_to_repeat(last)):
            self.raised -= 1  # no progress, or it did not follow: the last need again
            return self._raise(rng, peer)
        if answer is not None:
            # a fact asked at the opening ("who am I speaking with?") comes with the request
            if not self.raised and self.needs and not acts.asks_to_spell(last):
                return self._raise(rng, peer, first=first, before=answer)
            return self._say(answer, rng, peer, first=first)
        if acts.offers_more(last) or not asked:
            # the agent has answered (or asks what else): the next need, or the goal is met
            if self.raised < len(self.needs):
                return self._raise(rng, peer, first=first)
            if acts.offers_more(last):
                return self._close(rng, peer, "goal met", before=rng.choice(NO_MORE))
            return self._close(rng, peer, "goal met")
        if acts.yes_no_question(last):
            need = self.needs[self.raised] if self.raised < len(self.needs) else None
            if need is not None and self.raised and all(acts.affirms(self._plain(s)) for s in need.say):
                return self._raise(rng, peer, first=first)  # "Yes, that time is fine. Should I bring anything?"
            return self._say(rng.choice(YES), rng, peer, first=first)
        if not self.raised and self.needs:  # "How can I help?"
            return self._raise(rng, peer, first=first)
        # a question we cannot map to a fact: say more about the need, or that we don't know
        need = self.needs[self.raised - 1] if self.raised else None
        if need is not None and need.more and rng.random() < 0.7:
            return self._say(choose(need.more, "", None, rng, self.lang).format(**self._values(peer)), rng, peer)
        return self._say(rng.choice(UNSURE), rng, peer, first=first)

    def _answer(self, heard: str, rng: random.Random) -> str | None:
        """What to say to a question about our facts: the fact (again, slowly, if asked again or
        to spell it), a confirmation of a read-back, or its correction. None if it asks none."""
        values = self._facts()
        # a read-back of one of our IDs: confirm it, or set a wrong digit right
        for key, value in values.items():
            if key not in self.given or not ids(value):
                continue
            want = acts.digits(ids(value)[0].group(0))
            groups = acts.digit_groups(heard)
            if want in groups and "?" in heard:
                return rng.choice(CONFIRMED)
            # a number like ours read back to us (one of its digits wrong, or another of its shape)
            read_back = any(close(want, g) for g in groups) or acts.yes_no_question(heard) and any(
                abs(len(g) - len(want)) <= 1 for g in groups)
            if groups and read_back and want not in groups:
                self.given[key] += 1
                return rng.choice(CORRECTED).format(value=spell(value))
        asked = [k for k in values if acts.asks_about(heard, k)]
        if not asked and (acts.asks_to_repeat(heard) or acts.asks_to_spell(heard)) and self.given:
            asked = [max(self.given, key=lambda k: (self.given[k], k))]  # what we gave last, most often
        if not asked:
            return None
        parts = []
        for key in asked[:2]:  # one or two facts a turn, as people give them
            again = key in self.given or acts.asks_to_spell(heard) or acts.asks_to_repeat(heard)
            self.given[key] = self.given.get(key, 0) + 1
            value = values[key]
            if key == "name":
                parts.append(rng.choice(ANSWER).format(value=spell_name(value) if again else value))
            elif again:
                parts.append(rng.choice(AGAIN).format(value=spell(value)))
            else:
                parts.append(self._answer_line(key, value, rng))
        return " ".join(parts)

    def _answer_line(self, key: str, value: str, rng: random.Random) -> str:
        """The scenario's own line that says `key` (a verification beat), else a plain answer."""
        values = self._values(None)
        lines = [s for b in self.answers for s in b.say if key in slots(s) and slots(s) <= set(values)]
        if lines:
            return choose(lines, "", None, rng, self.lang).format(**values)
        what = key.replace("_", " ") if acts.topic(key) == key else acts.topic(key).replace("dob", "date of birth")
        return rng.choice(ANSWER + ANSWER_WHAT).format(value=value, what=what)

    @staticmethod
    def _repeats(heard: list[str]) -> int:
        """How many times the agent has said its last line (REPEATS_TO_STALL: it is stuck)."""
        last = normalize(heard[-1]) if heard else ""
        return sum(normalize(h) == last for h in heard) if last else 0

    # --- saying it ---------------------------------------------------------------------------

    def _raise(self, rng: random.Random, peer: str | None, *, first: bool = False, before: str = "") -> str:
        """The next need, in the script's words (with `before` said first)."""
        beat = self.needs[self.raised]
        self.raised += 1
        line = self.render(beat, rng, peer=peer, echo=None, first=first)
        given = [v for v in self._facts().values() if v and v in before]
        if before and not any(v in line for v in given):  # "It's Maria Lopez." before "My name is Maria Lopez..."
            line = f"{self._tidy(before, rng)} {line}"
        return line

    def _close(self, rng: random.Random, peer: str | None, reason: str, *, line: str | None = None,
               before: str = "") -> str:
        """The caller's goodbye (its script's closing line unless `line`); the call ends after it."""
        self.reason = reason
        self.call.end_after_turn(self.role, reason)
        if line is None:
            line = self.render(self.closing, rng, peer=peer, echo=None, first=False)
        return f"{self._tidy(before, rng)} {line}".strip() if before else self._say(line, rng, peer)

    def _say(self, text: str, rng: random.Random, peer: str | None, *, first: bool = False) -> str:
        """A line of ours (not a scenario line), worded the way this persona talks."""
        ctx = Context(self.persona, self.lang, rng, peer=peer, first=first)
        turn = run(pipeline.TURN, Line(self._tidy(text, rng), self._names, tuple(map(str, self.facts.values()))), ctx)
        if self.disfluent:
            turn = run(pipeline.DISFLUENCY, turn, ctx.fork("disfluency"))
        return turn.text

    def _tidy(self, text: str, rng: random.Random) -> str:
        return run(pipeline.LINE, Line(text), Context(self.persona, self.lang, rng)).text

    def _facts(self) -> dict[str, str]:
        """What the caller can be asked for: its facts and its name."""
        return {**{k: str(v) for k, v in self.facts.items()}, "name": self.persona.name}

    def _values(self, peer: str | None) -> dict[str, str]:
        return {**self.facts, "name": self.persona.name, "first_name": self.persona.first_name,
                "peer": peer or "", "echo": ""}

    @staticmethod
    def _plain(line: str) -> str:
        from .wording import plain

        return plain(line)


def needs_of(beats: list[Beat]) -> list[Beat]:
    """A caller's needs among its beats: what it came to say, not what it says when asked."""
    return [b for b in beats if b.phase not in ("verification", "closing")]
