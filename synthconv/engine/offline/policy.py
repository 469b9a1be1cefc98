"""An offline dialogue policy, written as a livekit-agents `llm.LLM`.

It plays its role's beats of the scenario script (opening → problem → verification →
resolution → closing) from the chat context the session hands it: how often it has spoken,
and what it heard. It picks wording with a seeded RNG, fills in the role's facts, echoes IDs
and the peer's name it heard, and colours the line with the persona's style: fillers, and under
natural turn-taking repetitions ("I I think") and self-repairs ("my account, I mean my account
number"). It ends the call on the script's last beat, or early with its closing line when the
turn limit is near. A line the peer cut off is said again, with a repair ("As I was saying,").
About 320 lines because choosing the next line (beat, hearing repair, cut-off repair, ending)
and colouring it are one decision; wording.py already holds the tables.
"""

from __future__ import annotations

import functools
import random
import re
import string
import uuid

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from ...scenario import Beat, Persona, Scenario
from ..base import CallControl
from .wording import address, choose, restyle
from .plugin import OfflinePlugin
from .repair import Repair, ungroup

# Words that colour a line, per language. Kept short: the scenario carries the content.
FILLERS = {
    "en": ["Um,", "Uh,", "Well,", "So,", "Okay, so", "Right,", "Hmm,"],
    "hi": ["अच्छा,", "देखिए,", "मतलब,", "हम्म,", "जी,"],
}
THANKS = {
    "en": ["Thank you.", "Thanks.", "Sure, of course.", "Thank you for that.", "Cheers.", "Lovely, thanks.",
           "Appreciated."],
    "hi": ["धन्यवाद।", "शुक्रिया।", "जी, धन्यवाद।"],
}
CURT = {"en": ["Look,", "Right.", "Fine."], "hi": ["सुनिए,", "ठीक है।"]}
REPAIR = {  # said before a line the peer cut off, which then comes again (not "Sorry, ...": repair.py
    # reads a short line starting with "Sorry" as a question about a number)
    "en": ["As I was saying,", "Let me just finish,", "Like I said,", "Anyway, as I was saying,"],
    "hi": ["जैसा मैं कह रहा था,", "मैं बस यह कह रहा था कि"],
}
SELF_REPAIR = {"en": "I mean", "hi": "मेरा मतलब"}  # labels.REPAIR_MARKERS finds them again
# chance per line of a repetition and of a self-repair, by the persona's `fillers` style
DISFLUENT = {"none": (0.0, 0.0), "some": (0.12, 0.05), "many": (0.25, 0.12)}
MOOD = {  # composed from parts like a scenario line (wording.py): said once per call, by many callers
    "en": {
        "frustrated": ["[Honestly|To be honest|I have to say], this is [really|very|pretty] [frustrating|annoying|stressful].",
                       "I've [already lost|already wasted|lost|wasted] [enough|too much|far too much] time on this[ as it is| this week|].",
                       "I [really|honestly] [didn't|did not] expect to [be chasing|have to chase] this."],
        "anxious": ["I'm [a bit|a little|rather|quite] [worried|nervous|anxious] about this, [to be honest|if I'm honest|I must say].",
                    "I [just|really] want to [make sure|be sure|know] it's [sorted|dealt with|going to be okay].",
                    "[Forgive me|Bear with me], I [get|tend to get] [a bit|a little] [flustered|nervous] with [things like this|this sort of thing]."],
        "tired": ["[Forgive me|Excuse me|Bear with me], it's been a [long|really long|very long] day.",
                  "I'm [pretty|rather|really|a bit] [worn out|tired|exhausted] [today|this evening|at the moment]."],
        "hurried": ["I'm in a [bit of a|real] [rush|hurry], so [quickly|as quick as you can] please.",
                    "I [don't|do not] have [long|much time|many minutes] [to talk|on this], [sorry|I'm afraid]."],
        "cheerful": ["[Hope|I hope] your [day|week] is going [well|nicely|okay|great]!",
                     "[Nice|Lovely|Good] to [hear|get] a friendly voice[!| on the line!]",
                     "Hope you're [keeping|doing] [well|all right][ today|]!"],
    },
    "hi": {
        "frustrated": ["[सच कहूँ तो|ईमानदारी से कहूँ तो] यह [बहुत|काफ़ी] परेशान करने वाला है।",
                       "मेरा [काफ़ी|बहुत] समय [बर्बाद हो चुका है|ख़राब हो चुका है]।"],
        "anxious": ["मुझे इसकी [थोड़ी|काफ़ी] चिंता हो रही है।"],
        "tired": ["[माफ़ कीजिए|क्षमा कीजिए], आज दिन बहुत लंबा रहा।"],
        "hurried": ["मैं [थोड़ी|बहुत] जल्दी में हूँ।"],
        "cheerful": ["[उम्मीद है|आशा है] आपका दिन [अच्छा|बढ़िया] जा रहा है!"],
    },
}
NAME_PATTERNS = [
    re.compile(r"\b(?:my name is|this is|I'm|I am|name's)\s+([A-Z][a-z]+)"),
    re.compile(r"(?:मेरा नाम|मैं)\s+(\S+?)(?:\s+(?:है|हूँ|बोल))"),
]
NOT_NAMES = {"Sorry", "Just", "Calling", "Not", "So", "Here", "Glad", "Happy"}
ID_PATTERN = re.compile(r"[A-Z]{1,4}-?\d[\d-]*|\d[\d -]*\d")


def _slots(line: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(line) if f}


def peer_name(heard: list[str]) -> str | None:
    """The first name the peer introduced itself with, if it did."""
    for text in heard:
        for pattern in NAME_PATTERNS:
            for m in pattern.finditer(text):
                if m.group(1) not in NOT_NAMES:
                    return m.group(1).rstrip(".,!?।")
    return None


def echo_token(text: str) -> str | None:
    """The longest ID-like token (account, order, load number) in what was just heard."""
    text = ungroup(text)  # "4,417" as a recognizer writes it
    found = [m.group(0).strip(" -") for m in ID_PATTERN.finditer(text)]
    found = [f for f in found if sum(c.isdigit() for c in f) >= 3]
    return max(found, key=len) if found else None


class DialoguePolicy(OfflinePlugin, llm.LLM):
    MODEL = "scripted-policy"

    def __init__(
        self,
        *,
        scenario: Scenario,
        role: str,
        persona: Persona,
        facts: dict[str, str],
        seed: int,
        call: CallControl,
        disfluent: bool = True,
        variant: int | None = None,
    ) -> None:
        super().__init__()
        self.disfluent = disfluent
        self._said_again: set[str] = set()  # lines said again after the peer cut them off
        self._last_line = ""  # the whole of the last line (a cut one reaches the chat shorter in a room)
        self.scenario = scenario
        self.role = role
        self.persona = persona
        self.facts = facts
        self.seed = seed
        self.call = call
        self.variant = variant  # which composition of each beat (wording.py); None: seeded choice
        self.beats = [b for b in scenario.script if b.role == role]
        self.lang = scenario.language if scenario.language in FILLERS else "en"
        self.repair = Repair(scenario, role, facts, seed)  # asks again when a number was misheard

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict] = NOT_GIVEN,
    ) -> llm.LLMStream:
        return _PolicyStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    def next_line(self, chat_ctx: llm.ChatContext) -> str:
        """The next thing to say, or "" once the call is over."""
        line = self._next_line(chat_ctx)
        self._last_line = line or self._last_line
        return line

    def _next_line(self, chat_ctx: llm.ChatContext) -> str:
        if self.call.ending_role is not None:
            return ""  # the other side said goodbye: the call is over
        said = [m for m in chat_ctx.messages() if m.role == "assistant"]
        heard = [m.text_content or "" for m in chat_ctx.messages() if m.role == "user"]
        last_heard = ""
        for m in reversed(chat_ctx.messages()):
            if m.role == "assistant":
                break
            if m.role == "user":
                last_heard = (m.text_content or "") + " " + last_heard
        turns_so_far = len(said) + len(heard)
        # what advances the script: neither lines said again after a cut nor asking about a number
        # (in a room a line said again can itself be cut: its message then holds the start of it)
        said_texts = [t for t in (m.text_content or "" for m in said)
                      if not (t and any(again.startswith(t) for again in self._said_again))]
        own = len(said_texts)
        repair = self.repair.next(said_texts, last_heard, turns_so_far)
        if repair:
            return repair
        own -= self.repair.done(said_texts)  # repair turns do not advance the script
        cut_off = self.call.interrupted.pop(self.role, None)

        at_limit = turns_so_far + 1 >= self.scenario.turns.max
        if own >= len(self.beats) or at_limit:
            beat, final = self.beats[-1], True  # wrap up with this role's goodbye
        else:
            beat = self.beats[own]
            final = beat is self.scenario.script[-1]
        # a question the peer answered anyway (it heard enough of it) is not asked again
        answered = "?" in self._last_line and last_heard.strip() and "?" not in last_heard
        if cut_off is not None and not final and own > 0 and not answered:
            beat = self.beats[min(own, len(self.beats)) - 1]
            rng = random.Random(f"{self.seed}:{self.role}:{own}:repair")
            line = self.render(beat, rng, peer=peer_name(heard), echo=echo_token(last_heard), first=False)
            again = rng.choice(REPAIR[self.lang])
            if self.persona.gender == "female":  # Hindi verbs agree with the speaker: "कह रही थी"
                again = again.replace("रहा था", "रही थी")
            line = f"{again} {_lower_first(line)}"
            self._said_again.add(line)
            return line
        if final:
            self.call.end_after_turn(self.role, "turn limit" if at_limit and own < len(self.beats) - 1 else "goodbye")

        rng = random.Random(f"{self.seed}:{self.role}:{own}")
        return self.render(beat, rng, peer=peer_name(heard), echo=echo_token(last_heard), first=own == 0)

    def render(self, beat: Beat, rng: random.Random, *, peer: str | None, echo: str | None, first: bool) -> str:
        style = self.persona.style
        values = {
            **self.facts,
            "name": self.persona.name,
            "first_name": self.persona.first_name,
            "peer": peer or "",
            "echo": echo or "",
        }
        usable = [
            s for s in beat.say if ("peer" not in _slots(s) or peer) and ("echo" not in _slots(s) or echo)
        ] or beat.say
        if echo and any("echo" in _slots(s) for s in usable):
            # a number was just heard: read it back (repair.py counts on hearing it read back)
            usable = [s for s in usable if "echo" in _slots(s)]
        if style.verbosity == "terse":
            usable = sorted(usable, key=len)[: max(1, len(usable) // 2)]
        key = f"{self.scenario.id}:{self.role}:{self.scenario.script.index(beat)}"
        line = choose(usable, key, self.variant, rng, self.lang).format(**values)
        line = _sentence_case(re.sub(r"\s+([,.?!])", r"\1", line).replace(" ,", ",").strip())

        parts = [line]
        add_more = {"terse": 0.0, "normal": 0.25, "verbose": 0.9}[style.verbosity]
        if beat.more and rng.random() < add_more:
            parts.append(_sentence_case(choose(beat.more, "", None, rng, self.lang).format(**values)))
        mood = MOOD[self.lang].get(style.mood)
        # the mood shows once: where the call's issue comes up, or a cheerful hello
        first_problem = next((b for b in self.beats if b.phase == "problem"), None)
        if first_problem is None and style.mood == "cheerful":
            first_problem = self.beats[0]
        if mood and beat is first_problem:
            parts.append(choose(mood, "", None, rng, self.lang))
        if beat.phase in ("verification", "resolution") and not first:
            thanked = any(t.split()[0].strip(".,।") in line[:24] for t in THANKS[self.lang])
            if style.politeness == "high" and rng.random() < 0.5 and not thanked:
                parts.insert(0, rng.choice(THANKS[self.lang]))
            elif style.politeness == "low" and rng.random() < 0.4:
                parts.insert(0, rng.choice(CURT[self.lang]))
        if parts[0].endswith(","):  # "Look, it's ...", not "Look, It's ..."
            parts[1] = _lower_first(parts[1], self._names)
        text = re.sub(r"(?<=\w\.\w\.)\.(?!\.)", "", " ".join(parts))  # a fact "8 a.m." ending a sentence: one stop
        if style.politeness == "low":
            text = re.sub(r",? please\b", "", text)

        text = restyle(text, self.persona, self.lang, rng, self._names)
        if peer and not first:
            text = address(text, peer, self.persona, rng)

        p_filler = {"none": 0.0, "some": 0.3, "many": 0.65}[style.fillers]
        if rng.random() < p_filler:
            filler = rng.choice(FILLERS[self.lang])
            text = f"{filler} {_lower_first(text, self._names)}"
        if self.disfluent:
            text = self.disfluency(text, random.Random(f"{rng.random()}:disfluency"))
        return text

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        """Words that keep their capital after a filler: the names in facts ("Eastgate Medical")."""
        return frozenset(w for v in [*map(str, self.facts.values()), self.persona.name] for w in v.split()
                         if w[:1].isupper())

    def disfluency(self, text: str, rng: random.Random) -> str:
        """Maybe a repetition ("I I need") or a self-repair ("my account, I mean my account
        number") near the start of the line, as the persona's `fillers` style says.
        Never inside one of the role's facts: an amount or a name is said whole."""
        p_repeat, p_repair = DISFLUENT[self.persona.style.fillers]
        words = text.split()
        fact = set()  # indices of words that belong to a fact value said in this line
        for value in map(str, self.facts.values()):
            at = text.find(value) if value.strip() else -1
            if at >= 0:
                first = len(text[:at].split())  # words before the value
                if at and not text[at - 1].isspace():
                    first -= 1  # it starts inside a word: "(₹299)"
                fact.update(range(first, first + len(value.split())))

        def free(i: int) -> bool:
            return _plain(words[i]) and i not in fact

        plain = [i for i in range(min(len(words), 6)) if free(i)]
        if plain and rng.random() < p_repeat:  # one of the two per line at most
            i = rng.choice(plain)
            words.insert(i + 1, words[i])
            return " ".join(words)
        plain = [i for i in range(1, min(len(words) - 2, 8)) if free(i) and free(i - 1)]
        if plain and rng.random() < p_repair:
            i = rng.choice(plain)  # words[i-1:i+1] are said, retracted and said again
            again = _lower_first(words[i - 1]) if i == 1 else words[i - 1]
            words[i + 1 : i + 1] = [SELF_REPAIR[self.lang], again, words[i]]
            words[i] += ","
        return " ".join(words)


def _plain(word: str) -> bool:
    """A word without digits, capitals or punctuation: safe to repeat (never part of an ID such
    as "MC 752301", never a sentence end); "I" is a word."""
    return word == "I" or not any(c.isdigit() or c.isupper() or c in ",.?!।;:$%-'\"" for c in word)


def _sentence_case(text: str) -> str:
    """A fact that starts a sentence ("the 8:10 tomorrow") starts with a capital; "6 a.m. tomorrow" stays."""
    return re.sub(r"(^|\b[A-Za-z]{2,}[.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _lower_first(text: str, keep: frozenset[str] = frozenset()) -> str:
    first = text.split(" ", 1)[0]
    bare = re.sub(r"['’]s$", "", first.rstrip(",.!?:;"))  # "Poppy's" is Poppy, "Dr." is Dr
    if (len(first) > 1 and first[0].isupper() and first[1:].islower() and not re.match(r"I['’]", first)
            and bare not in {k.rstrip(",.!?:;") for k in keep} | {"Dr", "Mr", "Mrs", "Ms", "Miss"}):
        return text[0].lower() + text[1:]
    return text


class _PolicyStream(llm.LLMStream):
    async def _run(self) -> None:
        policy: DialoguePolicy = self._llm  # type: ignore[assignment]
        text = policy.next_line(self._chat_ctx)
        if text:
            self._event_ch.send_nowait(
                llm.ChatChunk(
                    id=uuid.uuid4().hex[:12],
                    delta=llm.ChoiceDelta(role="assistant", content=text),
                )
            )
