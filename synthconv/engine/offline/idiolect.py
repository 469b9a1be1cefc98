"""An idiolect: what one speaker says out of habit (English).

Every drawn or file persona gets, seeded by its id, a couple of adverbs it slips in after "I'll",
"I've", "I can" ("I'll just check", "I've now sent it"), an intensifier ("really sorry"),
discourse markers it starts a second sentence with ("... on my card. So the reference is ...")
and how often it does any of these; and a habit of calling the peer by name after an
acknowledgement ("Thanks, Megan. I have ..."). One speaker is consistent over a call; two
speakers differ, as people do. Never before a capitalised word or a number (a fact stays as
written), never "Actually" or "No" at a line's start (the hearing repair reads those as
corrections: acts.corrects).
"""

from __future__ import annotations

import functools
import random
import re

from ...scenario import Persona
from .transform import Context, Example, Line, Transform

ADVERBS = ["just", "actually", "now", "really", "definitely", "quickly"]  # none that change what is said ("also")
ADVERB_FITS = {  # the auxiliaries each adverb reads well after
    "just": {"i'll", "we'll", "i've", "we've", "i can", "we can", "you can", "i'd", "you'll", "i'm", "i just"},
    "actually": {"i'll", "we'll", "i've", "we've", "i can", "we can", "you can", "i'd", "you'll", "i'm"},
    "now": {"i've", "we've", "you can", "you'll"},
    "really": {"i'd", "i'm"},
    "definitely": {"i'll", "we'll", "you'll", "i can", "we can", "i'd"},
    "quickly": {"i'll", "we'll", "i can", "we can"},
}
INTENSIFIERS = ["really", "quite", "pretty", "very", "so"]
MARKERS = ["So", "Now,", "And", "Right,", "Okay, so", "Well,", "Anyway,", "So yeah,", "Alright, so", "Basically,"]


@functools.lru_cache(maxsize=1024)
def _habits(persona_id: str, verbosity: str) -> tuple[list[str], list[str], float]:
    r = random.Random(f"idiolect:{persona_id}")
    adverbs = r.sample(ADVERBS, 2) + [r.choice(INTENSIFIERS)]
    markers = r.sample(MARKERS, 2)
    rate = {"terse": 0.25, "normal": 0.45, "verbose": 0.7}[verbosity]
    return adverbs, markers, rate


def idiolect(persona: Persona) -> tuple[list[str], list[str], float]:
    """(adverbs and, last, an intensifier; markers; how often) of this speaker, the same every
    time it is asked."""
    return _habits(persona.id, persona.style.verbosity)


_AUXILIARY = re.compile(r"\b(I'll|we'll|We'll|I've|we've|We've|I can|we can|We can|you can|You can|I'd|you'll|You'll"
                        r"|I'm) (?=([a-z]+)\b)")
NOT_BEFORE = {"not", "never", "no", "nothing", "be", "sorry", "afraid", "a", "the", "got", "see", "hear"}


def _adverbs(line: Line, ctx: Context) -> str:
    (*adverbs, _), _, rate = idiolect(ctx.persona)

    def adverb(m: re.Match) -> str:
        aux, following = m.group(1).lower(), m.group(2)
        if following in ADVERBS or following in NOT_BEFORE:
            return m.group(0)
        if aux == "i'm" and not following.endswith("ing"):
            return m.group(0)  # "I'm just calling", not "I'm just sorry"
        fits = [a for a in adverbs if aux in ADVERB_FITS[a]]
        if fits and ctx.chance(rate):
            return f"{m.group(1)} {ctx.pick(fits)} "
        return m.group(0)

    return _AUXILIARY.sub(adverb, line.text)


ADVERB = Transform(
    "adverb", _adverbs, when=lambda line, ctx: ctx.english,
    examples=(Example("I'll check it. I've sent it. I'm calling.",
                      "I'll definitely check it. I've just sent it. I'm just calling.", "the adverbs that fit"),
              Example("I'll be there. I'm sorry. I can see it.", "I'll be there. I'm sorry. I can see it.",
                      "not before NOT_BEFORE, nor 'I'm' before a word not in -ing"),
              Example("I'll Dallas. We can 4417.", "I'll Dallas. We can 4417.", "never before a name or a number")),
)

ADJECTIVES = ("sorry|worried|sure|urgent|common|normal|late|important|easy|simple|quick|frustrating|annoying|"
              "expensive|high|low|busy|tight|full|strange|odd|unusual|helpful|grateful|glad|happy|confused|"
              "disappointed|concerned|stressful|long|slow|nervous|tired|straightforward|rare|serious|bad|good")
_INTENSIFIABLE = re.compile(rf"\b(is|are|was|it's|that's|I'm|I am|be|feel|seems|sounds|looks) (?=({ADJECTIVES})\b)")


def _intensify(line: Line, ctx: Context) -> str:
    (*_, intensifier), _, rate = idiolect(ctx.persona)
    return _INTENSIFIABLE.sub(lambda m: f"{m.group(1)} {intensifier} " if ctx.chance(rate) else m.group(0), line.text)


INTENSIFIER = Transform(
    "intensifier", _intensify, when=lambda line, ctx: ctx.english,
    examples=(Example("I'm sorry, it's late.", "I'm so sorry, it's so late."),
              Example("It's the late bill.", "It's the late bill.", "only after a verb")),
)

STARTERS = {"The", "It", "It's", "I", "I'll", "I've", "I'm", "You", "You'll", "Your", "We", "We'll", "We've",
            "That", "That's", "There", "There's", "This", "If", "Our", "My", "Once", "Then"}
_SENTENCE = re.compile(r"(?<=[.!?]) (?=([A-Z][\w']*)\b)")


def _open(line: Line, ctx: Context) -> str:
    _, markers, rate = idiolect(ctx.persona)

    def marker(m: re.Match) -> str:
        before = re.split(r"[.!?] ", m.string[: m.start()])[-1]  # the sentence before: not after "Hi."
        if m.group(1) not in STARTERS or len(before.split()) < 3 or not ctx.chance(rate):
            return m.group(0)
        return f" {ctx.pick(markers)} "

    return _SENTENCE.sub(marker, line.text)


OPENER = Transform(
    "opener", _open, when=lambda line, ctx: ctx.english,
    examples=(Example("I was charged twice. It was in March.", "I was charged twice. Right, It was in March.",
                      "the next word's capital is OPENER_CASE's"),
              Example("Hi. It was in March. Dallas is fine.", "Hi. It was in March. Dallas is fine.",
                      "not after a short sentence, not before a word that is not a STARTER")),
)

# words that keep their capital after a marker, besides the speaker's names
PROPER = {*["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
          *["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]}
_AFTER_MARKER = re.compile("(" + "(?:" + "|".join(map(re.escape, MARKERS)) + ") )(?!I\\b|I'|[A-Z]{2})([A-Z][a-z']*)")


def _lower_after_marker(line: Line, ctx: Context) -> str:
    keep = line.names | PROPER
    return _AFTER_MARKER.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) in keep else m.group(2).lower()),
                             line.text)


OPENER_CASE = Transform(  # a marker is followed by the sentence it opens
    "opener_case", _lower_after_marker, when=lambda line, ctx: ctx.english,
    examples=(Example("And Monday works. So Green Valley Grocers rang. So The rest is fine. Well, I think so.",
                      "And Monday works. So Green Valley Grocers rang. So the rest is fine. Well, I think so.",
                      "not a name, a day or 'I'", names=frozenset({"Green", "Valley"})),),
)

# Calling the peer by name after an acknowledgement, as people on the phone do once they know
# it: how often is this speaker's habit, more for the role that answers the call. A name is never
# inserted into a line that already has it.
_ACKNOWLEDGED = re.compile(r"^((?:Thanks|Thank you|Okay|OK|Right|Alright|All right|Great|Perfect|Sure|"
                           r"Of course|Cheers|Lovely|Got it|Brilliant|Understood|Excellent)"
                           r"(?: then| so much| very much)?)([,.!])\s")


def _names_habit(persona: Persona) -> float:
    return random.Random(f"names:{persona.id}").choice([0.0, 0.15, 0.3, 0.5])


def _address(line: Line, ctx: Context) -> str:
    m = _ACKNOWLEDGED.match(line.text)
    return f"{m.group(1)}, {ctx.peer}{m.group(2)} {line.text[m.end():]}" if m else line.text


ADDRESS = Transform(
    "address", _address,
    when=lambda line, ctx: bool(ctx.peer and not ctx.first and ctx.peer not in line.text and ctx.peer[:1].isupper()
                                and _ACKNOWLEDGED.match(line.text) and ctx.chance(_names_habit(ctx.persona))),
    examples=(Example("Thanks so much. I have it here.", "Thanks so much, Megan. I have it here.", peer="Megan"),
              Example("Okay then, it's done.", "Okay then, Megan, it's done.", peer="Megan")),
)
