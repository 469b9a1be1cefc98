"""An offline dialogue policy, written as a livekit-agents `llm.LLM`.

It plays its role's beats of the scenario script (opening → problem → verification →
resolution → closing) from the chat context the session hands it: how often it has spoken,
and what it heard. It picks wording with a seeded RNG, fills in the role's facts, echoes IDs
and the peer's name it heard, and colours the line with the persona's style. It ends the call
on the script's last beat, or early with its closing line when the turn limit is near.
"""

from __future__ import annotations

import random
import re
import string
import uuid

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from ...scenario import Beat, Persona, Scenario
from ..base import CallControl
from .plugin import OfflinePlugin
from .repair import Repair, ungroup

# Words that colour a line, per language. Kept short: the scenario carries the content.
FILLERS = {
    "en": ["Um,", "Uh,", "Well,", "So,", "Okay, so", "Right,", "Hmm,"],
    "hi": ["अच्छा,", "देखिए,", "मतलब,", "हम्म,", "जी,"],
}
THANKS = {
    "en": ["Thank you.", "Thanks.", "Sure, of course."],
    "hi": ["धन्यवाद।", "शुक्रिया।", "जी, धन्यवाद।"],
}
CURT = {"en": ["Look,", "Right.", "Fine."], "hi": ["सुनिए,", "ठीक है।"]}
MOOD = {
    "en": {
        "frustrated": ["Honestly, this is really frustrating.", "I've already lost enough time on this."],
        "anxious": ["I'm a bit worried about this, to be honest.", "I just want to make sure it's sorted."],
        "tired": ["Sorry, it's been a long day.", "I'm pretty worn out today."],
        "hurried": ["I'm in a bit of a rush, so quickly please.", "I don't have long, sorry."],
        "cheerful": ["Hope your day is going well!", "Nice to hear a friendly voice."],
    },
    "hi": {
        "frustrated": ["सच कहूँ तो यह बहुत परेशान करने वाला है।", "मेरा काफ़ी समय बर्बाद हो चुका है।"],
        "anxious": ["मुझे इसकी थोड़ी चिंता हो रही है।"],
        "tired": ["माफ़ कीजिए, आज दिन बहुत लंबा रहा।"],
        "hurried": ["मैं थोड़ी जल्दी में हूँ।"],
        "cheerful": ["उम्मीद है आपका दिन अच्छा जा रहा है!"],
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
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.role = role
        self.persona = persona
        self.facts = facts
        self.seed = seed
        self.call = call
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
        own = len(said)
        said_texts = [m.text_content or "" for m in said]
        repair = self.repair.next(said_texts, last_heard, turns_so_far)
        if repair:
            return repair
        own -= self.repair.done(said_texts)  # repair turns do not advance the script

        at_limit = turns_so_far + 1 >= self.scenario.turns.max
        if own >= len(self.beats) or at_limit:
            beat, final = self.beats[-1], True  # wrap up with this role's goodbye
        else:
            beat = self.beats[own]
            final = beat is self.scenario.script[-1]
        if final:
            self.call.end_after_turn(self.role)

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
        if style.verbosity == "terse":
            usable = sorted(usable, key=len)[: max(1, len(usable) // 2)]
        line = rng.choice(usable).format(**values)
        line = re.sub(r"\s+([,.?!])", r"\1", line).replace(" ,", ",").strip()

        parts = [line]
        add_more = {"terse": 0.0, "normal": 0.25, "verbose": 0.9}[style.verbosity]
        if beat.more and rng.random() < add_more:
            parts.append(rng.choice(beat.more).format(**values))
        mood = MOOD[self.lang].get(style.mood)
        # the mood shows once: where the call's issue comes up, or a cheerful hello
        first_problem = next((b for b in self.beats if b.phase == "problem"), None)
        if first_problem is None and style.mood == "cheerful":
            first_problem = self.beats[0]
        if mood and beat is first_problem:
            parts.append(rng.choice(mood))
        if beat.phase in ("verification", "resolution") and not first:
            thanked = any(t.split()[0].strip(".,।") in line[:24] for t in THANKS[self.lang])
            if style.politeness == "high" and rng.random() < 0.5 and not thanked:
                parts.insert(0, rng.choice(THANKS[self.lang]))
            elif style.politeness == "low" and rng.random() < 0.4:
                parts.insert(0, rng.choice(CURT[self.lang]))
        text = " ".join(parts)
        if style.politeness == "low":
            text = re.sub(r",? please\b", "", text)

        p_filler = {"none": 0.0, "some": 0.3, "many": 0.65}[style.fillers]
        if rng.random() < p_filler:
            filler = rng.choice(FILLERS[self.lang])
            text = f"{filler} {_lower_first(text)}"
        return text


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first[0].isupper() and first[1:].islower() and first not in ("I", "I'm", "I've", "I'd"):
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
