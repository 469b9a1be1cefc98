"""Wording variety for the scripted policy: lines composed from parts, a plan-level variant that
keeps a run from choosing the same composition twice, and rewording by speaking style.

A scenario line may hold alternatives, `[Hi|Hello|Good morning] {peer}, I [sent back|returned]
{item}`: every choice of parts is one composition of the beat. Conversations run in separate
processes, so instead of remembering what was said, each job carries `variant` (job.py: a
per-scenario offset drawn from the plan seed plus the job's occurrence number in the plan), and
the k-th conversation of a scenario takes composition k of one fixed permutation of all of the
beat's compositions: until they run out, no two conversations of a run say a beat alike.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re

from ...scenario import Persona

ALTERNATIVES = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")
MAX_COMPOSITIONS = 20_000  # beyond this a beat is varied enough; keep the permutation small


def parts(line: str) -> list[list[str]]:
    """The alternatives of each `[a|b]` group of `line`, in order."""
    return [group.split("|") for group in ALTERNATIVES.findall(line)]


def compose(line: str, picks: tuple[int, ...]) -> str:
    """`line` with its k-th `[a|b]` group replaced by alternative picks[k]."""
    it = iter(picks)
    return ALTERNATIVES.sub(lambda m: m.group(1).split("|")[next(it)], line)


def compositions(lines: list[str]) -> list[tuple[int, tuple[int, ...]]]:
    """Every (line, choice of parts) of a beat, at most MAX_COMPOSITIONS of them."""
    out: list[tuple[int, tuple[int, ...]]] = []
    for i, line in enumerate(lines):
        ranges = [range(len(g)) for g in parts(line)]
        out.extend((i, picks) for picks in itertools.islice(itertools.product(*ranges), MAX_COMPOSITIONS))
    return out[:MAX_COMPOSITIONS]


# Interchangeable English phrases: every line that has one becomes several (expand), so even a
# beat written with a single wording has a few compositions.
PARAPHRASES = [
    ["Thank you", "Thanks", "Thanks a lot", "Many thanks"],
    ["Goodbye", "Bye now", "Bye-bye", "Bye for now"],
    ["Hi", "Hello", "Hey"],
    ["Can I have", "Could I get", "May I have", "Can you give me"],
    ["Could you", "Can you", "Would you"],
    ["I'm sorry", "I'm so sorry", "I'm really sorry"],
    ["Okay", "Alright", "OK then", "Right then"],
    ["Sure", "Of course", "Certainly", "No problem"],
    ["right away", "straight away", "immediately", "this minute"],
    ["have a good day", "have a great day", "have a nice day", "enjoy the rest of your day"],
    ["I can see", "I'm seeing", "I notice"],
    ["Got it", "Understood", "Perfect", "Noted"],
    ["one second", "one moment", "just a sec", "hang on a second"],
    ["I'd like to", "I want to", "I need to", "I was hoping to"],
    ["How can I help", "What can I do for you", "How can I help you today", "What can I help with"],
    ["Let me check", "I'll check", "Let me have a look", "I'll take a look"],
    ["Take care", "All the best", "Look after yourself", "Have a good one"],
    ["Is there anything else", "Anything else", "Can I help with anything else", "Is there something else"],
    ["That's great", "That's brilliant", "That's perfect", "Lovely"],
    ["Yes", "Yeah", "Yep"],
    ["no problem", "not a problem", "no worries", "happy to help"],
    ["I understand", "I hear you", "I get that", "That makes sense"],
    ["as soon as possible", "as soon as I can", "at the earliest"],
    ["a few minutes", "a couple of minutes", "a few moments"],
    ["You're welcome", "My pleasure", "Any time", "Not at all"],
    ["Were you able to", "Did you manage to", "Have you been able to"],
    ["your patience", "bearing with us", "your understanding"],
]
HINDI = [
    ["धन्यवाद", "शुक्रिया", "बहुत धन्यवाद", "बहुत-बहुत शुक्रिया"],
    ["नमस्ते", "नमस्कार"],
    ["ठीक है", "जी ठीक है", "अच्छा", "चलिए ठीक है"],
    ["बताइए", "बता दीजिए", "बताइएगा"],
    ["आपका दिन शुभ हो", "आपका दिन अच्छा रहे", "दिन मंगलमय हो"],
    ["अपना ध्यान रखिए", "ख़याल रखिए", "सेहत का ध्यान रखिए"],
    ["माफ़ कीजिए", "क्षमा कीजिए", "माफ़ी चाहते हैं"],
    ["असुविधा के लिए खेद है", "तकलीफ़ के लिए माफ़ी चाहते हैं", "परेशानी के लिए खेद है"],
]
# not after "make", "be", "for", "not", "so": "make sure" is not "make of course"
_NOT_AFTER = r"(?<!\bmake )(?<!\bbe )(?<!\bfor )(?<!\bnot )(?<!\bso )"
_PHRASE = re.compile("|".join(rf"{_NOT_AFTER}\b{re.escape(p)}\b" for p in sorted({p for g in PARAPHRASES for p in g},
                                                                                  key=len, reverse=True)), re.IGNORECASE)
_GROUP_OF = {p: g for g in PARAPHRASES for p in g}
_HI_GROUP_OF = {p: g for g in HINDI for p in g}
# Devanagari vowel signs are not \w to `re`: a Hindi phrase ends where no letter or sign (danda aside) follows
_HI_PHRASE = re.compile("|".join(rf"(?<![\w\u0900-\u0963\u0966-\u097F]){re.escape(p)}(?![\w\u0900-\u0963\u0966-\u097F])"
                                 for p in sorted(_HI_GROUP_OF, key=len, reverse=True)))
_PROTECTED = re.compile(r"(\[[^\[\]]*\]|\{[^{}]*\})")


def _case(alt: str, like: str) -> str:
    if alt.startswith(("I ", "I'")) or like.startswith(("I ", "I'")) or alt[:2].isupper():
        return alt
    return (alt[0].upper() if like[0].isupper() else alt[0].lower()) + alt[1:]


def _hi_group(m: re.Match) -> str:
    said = m.group(0)
    return "[" + "|".join([said] + [p for p in _HI_GROUP_OF[said] if p != said]) + "]"


def _group(m: re.Match) -> str:
    said = m.group(0)
    key = next(p for p in _GROUP_OF if p.lower() == said.lower())
    return "[" + "|".join([said] + [_case(p, said) for p in _GROUP_OF[key] if p.lower() != said.lower()]) + "]"


def expand(line: str, lang: str) -> str:
    """`line` with every known English or Hindi phrase (outside `{slots}` and `[a|b]` groups)
    turned into a group of its paraphrases, the written one first."""
    if lang not in ("en", "hi"):
        return line
    phrase, group = (_PHRASE, _group) if lang == "en" else (_HI_PHRASE, _hi_group)
    out = []
    for piece in _PROTECTED.split(line):
        if _PROTECTED.fullmatch(piece or "x"):
            out.append(piece)
        else:
            out.append(phrase.sub(group, piece))
    return "".join(out)


def choose(lines: list[str], key: str, variant: int | None, rng: random.Random, lang: str = "") -> str:
    """One composition of a beat's `lines`: the variant-th of a permutation fixed by `key` (the
    scenario, role and beat), or a random one for a conversation without a variant."""
    lines = [expand(line, lang) for line in lines]
    combos = compositions(lines)
    if variant is None:
        i, picks = rng.choice(combos)
    else:
        order = list(range(len(combos)))
        random.Random(hashlib.sha256(key.encode()).hexdigest()).shuffle(order)
        i, picks = combos[order[variant % len(combos)]]
    return compose(lines[i], picks)


def plain(line: str) -> str:
    """`line` with each `[a|b]` group as its first alternative (for checks that need text)."""
    return compose(line, tuple(0 for _ in parts(line)))


# --- rewording by style (English; other languages keep the scenario's wording) -------------

CONTRACT = [("I am", "I'm"), ("I will", "I'll"), ("do not", "don't"), ("it is", "it's"),
            ("It is", "It's"), ("cannot", "can't"), ("you are", "you're"), ("We are", "We're"),
            ("we are", "we're"), ("that is", "that's"), ("There is", "There's"), ("is not", "isn't"),
            ("did not", "didn't"), ("I would", "I'd"), ("Let us", "Let's"), ("will not", "won't")]
POLITE_ASK = [(r"^(Can|Could) you\b", r"Would you mind if I asked you to"), (r"^What's\b", "May I ask what's"),
              (r"^Can I (have|get)\b", r"Could I please \1")]
HEDGES = ["I think ", "As far as I can tell, ", "Just so you know, ", "To be honest, ", "Basically, "]
HEDGEABLE = {"the", "that", "it", "it's", "your", "you", "you'll", "we", "we've", "we'll", "there", "there's",
             "this", "our", "my", "so", "everything", "nothing"}
TERSE_DROP = re.compile(r"^(?:Okay|Alright|Right|Sure|Great|Perfect|Thanks|Thank you|Got it|Understood)[,.!]\s+")


def restyle(text: str, persona: Persona, lang: str, rng: random.Random) -> str:
    """Reword a rendered line the way this speaker talks: contractions for fast or hurried
    speakers and none for formal ones, softened questions for polite ones, hedges for verbose
    ones, bare answers for terse ones."""
    if lang != "en":
        return text
    style = persona.style
    formal = style.politeness == "high" and style.pace != "fast" and style.mood not in ("hurried", "frustrated")
    casual = style.pace == "fast" or style.mood in ("hurried", "frustrated") or persona.age == "18-29"
    if formal and rng.random() < 0.7:
        for long, short in CONTRACT:
            text = re.sub(rf"\b{re.escape(short)}\b", long, text)
    elif casual:
        for long, short in CONTRACT:
            text = re.sub(rf"\b{re.escape(long)}\b", short, text)
    if style.politeness == "high" and rng.random() < 0.5:
        for pattern, repl in POLITE_ASK:
            new = re.sub(pattern, repl, text)
            if new != text:
                text = new
                break
    first = text.split(" ", 1)[0].rstrip(",.!?")
    if style.verbosity == "verbose" and rng.random() < 0.35 and first.lower() in HEDGEABLE:
        text = rng.choice(HEDGES) + text[0].lower() + text[1:]
    if style.verbosity == "terse":
        trimmed = TERSE_DROP.sub("", text)
        if trimmed and trimmed != text:
            text = trimmed[0].upper() + trimmed[1:]
    return text
