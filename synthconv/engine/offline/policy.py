"""An offline dialogue policy, written as a livekit-agents `llm.LLM`.

It plays its role's beats of the scenario script (opening → problem → verification →
resolution → closing) from the chat context the session hands it: how often it has spoken,
and what it heard (read with acts.py). It picks wording with a seeded RNG (wording.py), fills in
the role's facts, echoes IDs and the peer's name it heard, adds a sentence, a mood or an opener,
and has the named transforms of pipeline.py reword the turn the way the persona talks. It ends
the call on the script's last beat, or early with its closing line when the turn limit is near.
Before a beat it lets the hearing repair ask about a misheard number (repair.py); a line the peer
cut off is said again ("As I was saying,": resume.py).
"""

from __future__ import annotations

import functools
import random
import uuid

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from ...scenario import Beat, Persona, Scenario
from ..base import CallControl
from . import pipeline
from .acts import echo_token, is_question, peer_name
from .disfluency import FILLERS
from .plugin import OfflinePlugin
from .repair import HearingRepair
from .spelling import SENTENCE_CASE, lower_first
from .transform import Context, Line, run
from .wording import choose, slots

# Sentences said before or after a line, per language. Kept short: the scenario carries the content.
THANKS = {
    "en": ["Thank you.", "Thanks.", "Sure, of course.", "Thank you for that.", "Cheers.", "Lovely, thanks.",
           "Appreciated."],
    "hi": ["धन्यवाद।", "शुक्रिया।", "जी, धन्यवाद।"],
}
CURT = {"en": ["Look,", "Right.", "Fine."], "hi": ["सुनिए,", "ठीक है।"]}
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
        self.hearing_repair = HearingRepair(scenario, role, facts, seed)  # asks again when a number was misheard

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
        repair = self.hearing_repair.next(said_texts, last_heard, turns_so_far)
        if repair:
            return repair
        own -= self.hearing_repair.done(said_texts)  # repair turns do not advance the script
        cut_off = self.call.interrupted.pop(self.role, None)

        at_limit = self.scenario.turns.left(turns_so_far) <= 1  # this turn is the last
        if own >= len(self.beats) or at_limit:
            beat, final = self.beats[-1], True  # wrap up with this role's goodbye
        else:
            beat = self.beats[own]
            final = beat is self.scenario.script[-1]
        # a question the peer answered anyway (it heard enough of it) is not asked again
        answered = is_question(self._last_line) and last_heard.strip() and not is_question(last_heard)
        if cut_off is not None and not final and own > 0 and not answered:
            beat = self.beats[min(own, len(self.beats)) - 1]
            rng = random.Random(f"{self.seed}:{self.role}:{own}:repair")
            line = self.render(beat, rng, peer=peer_name(heard), echo=echo_token(last_heard), first=False)
            line = run(pipeline.AGAIN, Line(line), Context(self.persona, self.lang, rng)).text
            self._said_again.add(line)
            return line
        if final:
            self.call.end_after_turn(self.role, "turn limit" if at_limit and own < len(self.beats) - 1 else "goodbye")

        rng = random.Random(f"{self.seed}:{self.role}:{own}")
        return self.render(beat, rng, peer=peer_name(heard), echo=echo_token(last_heard), first=own == 0)

    def render(self, beat: Beat, rng: random.Random, *, peer: str | None, echo: str | None, first: bool) -> str:
        style = self.persona.style
        ctx = Context(self.persona, self.lang, rng, peer=peer, first=first)
        values = {
            **self.facts,
            "name": self.persona.name,
            "first_name": self.persona.first_name,
            "peer": peer or "",
            "echo": echo or "",
        }
        usable = [
            s for s in beat.say if ("peer" not in slots(s) or peer) and ("echo" not in slots(s) or echo)
        ] or beat.say
        if echo and any("echo" in slots(s) for s in usable):
            # a number was just heard: read it back (repair.py counts on hearing it read back)
            usable = [s for s in usable if "echo" in slots(s)]
        if style.verbosity == "terse":
            usable = sorted(usable, key=len)[: max(1, len(usable) // 2)]
        key = f"{self.scenario.id}:{self.role}:{self.scenario.script.index(beat)}"
        line = run(pipeline.LINE, Line(choose(usable, key, self.variant, rng, self.lang).format(**values)), ctx).text

        parts = [line]
        add_more = {"terse": 0.0, "normal": 0.25, "verbose": 0.9}[style.verbosity]
        if beat.more and rng.random() < add_more:
            parts.append(SENTENCE_CASE(Line(choose(beat.more, "", None, rng, self.lang).format(**values)), ctx).text)
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
            parts[1] = lower_first(parts[1], self._names)

        turn = run(pipeline.TURN, Line(" ".join(parts), self._names, tuple(map(str, self.facts.values()))), ctx)
        if self.disfluent:
            turn = run(pipeline.DISFLUENCY, turn, ctx.fork("disfluency"))
        return turn.text

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        """Words that keep their capital after a filler: the names in facts ("Eastgate Medical")."""
        return frozenset(w for v in [*map(str, self.facts.values()), self.persona.name] for w in v.split()
                         if w[:1].isupper())


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
