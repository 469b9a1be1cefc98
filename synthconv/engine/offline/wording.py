"""Wording variety for the scripted policy: lines composed from parts, a plan-level variant that
keeps a run from choosing the same composition twice, rewording by speaking style and a
speaker's habits (idiolect).

A scenario line may hold alternatives, `[Hi|Hello|Good morning] {peer}, I [sent back|returned]
{item}`: every choice of parts is one composition of the beat. Conversations run in separate
processes, so instead of remembering what was said, each job carries `variant` (job.py: a
per-scenario offset drawn from the plan seed, a multiple of WALK, plus the job's occurrence
number in the plan), and the k-th conversation of a scenario takes the k-th composition of a
walk over the beat's lines in which the lines take turns and neighbouring conversations differ in
every part: until they run out, no two conversations of a run say a beat alike. The offset picks
the walk, not where on it a run starts: started at random, most runs began where only the beat's
longest line had compositions left. About 440 lines because the paraphrase tables are data that belong
next to the code reading them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import re

from ...job import WALK
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
# beat written with a single wording has a few compositions. Dense on purpose: two conversations
# of one scenario share a word 3-gram only where no group lies within three words, so the common
# phrases of a phone call (greetings, thanks, asks, confirmations, goodbyes) all have groups.
# A member is also what is looked for, so no member may be a phrase that means something else
# elsewhere ("I'm" cannot stand for "my name is"). Never a member that starts like repair.py's
# corrections or questions ("No,", "Actually", "Sorry,"): a reworded line must not read as one.
PARAPHRASES = [
    ["Thank you", "Thanks", "Thanks a lot", "Many thanks", "Thanks very much", "Thank you so much", "Cheers",
     "Thanks ever so much", "Thanks so much"],  # the last is looked for whole: not "Cheers so much"
    ["thanks for calling", "thank you for calling", "thanks for ringing", "thanks so much for calling"],
    ["Thanks for your help", "Thank you for your help", "I appreciate your help", "Thanks for sorting that out",
     "Thanks for helping me out", "That's very helpful, thank you"],
    ["thanks for your patience", "thank you for your patience", "thanks for bearing with me",
     "thanks for holding", "thanks for waiting"],
    ["Goodbye", "Bye now", "Bye-bye", "Bye for now", "Bye then", "Cheerio", "Speak soon, bye"],
    ["talk to you later", "speak to you later", "speak soon", "talk soon"],
    ["Hi", "Hello", "Hey"],
    ["Hi there", "Hello there", "Hiya"],
    ["Good morning", "Good afternoon", "Good evening"],
    ["Can I have", "Could I get", "May I have", "Can you give me", "Could you give me", "Could I have"],
    ["Could you", "Can you"],  # not "Would you": "Can you see it" is not "Would you see it"
    ["Can you confirm", "Could you confirm", "Can I just confirm", "Would you mind confirming"],
    ["I'm sorry", "I'm so sorry", "I'm really sorry", "I'm very sorry"],
    ["sorry for the trouble", "sorry for the hassle", "sorry about all this", "apologies for the trouble"],
    ["sorry for the wait", "sorry to keep you waiting", "apologies for the wait", "sorry about the wait"],
    ["Okay", "Alright", "OK then", "Right then", "Okay then", "All right"],
    ["Sure", "Of course", "Certainly", "Absolutely", "Yes, of course"],
    ["right away", "straight away", "immediately", "this minute"],
    ["have a good day", "have a great day", "have a nice day", "enjoy the rest of your day", "have a lovely day",
     "have a good rest of your day"],
    ["I can see", "I'm seeing", "I notice"],
    ["Got it", "Understood", "Perfect", "Great, got that"],
    ["one second", "one moment", "just a sec", "hang on a second", "bear with me a second", "give me a moment"],
    ["I'd like to", "I want to", "I was hoping to", "I'd really like to"],  # not "I need to": a need is not a wish
    ["How can I help you today", "How can I help you", "What can I do for you", "How can I help",
     "What can I help you with", "How may I help", "What are you calling about today", "What's the call about",
     "What do you need today", "What can I sort out for you"],
    (CHECK := ["Let me check", "I'll check", "Let me have a look", "I'll take a look", "Let me look into it",
               "Let me pull that up", "I'll look into it"]),
    # only where a clause ends (CLAUSE_END): "Take care of that tooth" is not "Have a good one of that tooth"
    (CARE := ["Take care", "All the best", "Look after yourself", "Have a good one", "Take it easy"]),
    # only as the whole question (CLAUSE_END): "Is there anything else I need to do?" is not an offer
    (ELSE := ["Is there anything else", "Anything else", "Can I help with anything else", "Is there something else",
              "Is there anything more"]),
    ["That's great", "That's brilliant", "That's perfect", "Lovely", "Wonderful", "That's fantastic"],
    ["Yes", "Yeah", "Yep", "Yes indeed"],
    (NO_PROBLEM := ["no problem", "not a problem", "no worries", "happy to help", "not a problem at all", "glad to help"]),
    ["I understand", "I hear you", "That makes sense", "I completely understand"],
    ["as soon as possible", "as soon as I can", "at the earliest", "as quickly as I can"],
    ["a few minutes", "a couple of minutes", "a few moments", "a minute or two"],
    ["a few days", "a couple of days", "two or three days", "a day or two"],
    (WELCOME := ["You're welcome", "My pleasure", "Any time", "Not at all", "Glad I could help"]),
    ["Were you able to", "Did you manage to", "Have you been able to"],
    ["your patience", "bearing with us", "your understanding"],
    ["I'm calling", "I'm ringing", "I'm phoning", "I'm just calling"],
    ["my name is", "my name's"],
    ["you're through to", "you've reached", "you're speaking to", "you've come through to"],
    ["just to confirm", "just to be sure", "to double-check"],
    ["date of birth", "birth date"],
    ["the last four digits", "the last four numbers", "the final four digits"],
    ["on file", "on record", "on our system", "in our records"],
    ["you're verified", "you're all verified", "that's you verified", "you've passed security",
     "you're through security"],
    ["I'll send you", "I'm sending you", "I'll be sending you"],
    ["I'll call you back", "I'll ring you back", "I'll phone you back", "I'll get back to you"],
    ["I'm afraid", "Unfortunately"],
    ["I'm not sure", "I don't know", "I'm not certain"],
    ["the problem", "the issue", "the trouble"],
    ["a problem", "an issue", "some trouble"],
    ["your reference is", "the reference is", "your reference number is", "your case reference is"],
    ["send you a text", "send you a message", "text you"],
    ["in the app", "in the mobile app", "on the app"],
    ["What's the", "What is the", "Can you tell me the", "Could you tell me the"],
    ["What's your", "What is your", "Can you tell me your", "Could you tell me your"],
    ["I've found it", "I've got it here", "Here it is", "There it is", "I've found it here"],
    ["That sounds good", "That works", "That works for me", "Sounds good to me", "That's fine by me",
     "That suits me"],
    ["That's right", "That's correct", "Exactly", "Yes, that's the one"],
    ["Great", "Brilliant", "Excellent", "Fantastic"],
    ["That's fine", "That's okay", "That's no bother", "That's all right"],
    ["I'll do that", "I'll do exactly that", "I'll get on that"],
    ["in a minute", "in a moment", "shortly", "in just a moment"],
    ["I don't have", "I haven't got", "I do not have"],
    ["we'll", "we will", "we're going to"],
    ["you'll get", "you'll receive", "you should get", "you'll be getting"],
    ["sorry to hear that", "sorry to hear it", "sorry that's happened"],
    (WAIT := ["I'll wait", "I'll hold", "I'll stay on the line", "I'll hang on"]),
    ["Sounds good", "Sounds great", "Sounds fine"],
    ["Hold on", "Hang on", "Wait a moment"],
    ["I think", "I believe", "I reckon"],
    ["make sure", "make certain", "double-check"],
]
# groups matched only where a sentence starts: elsewhere the words mean something else
# ("if that's right", "the great thing")
SENTENCE_START = {"That's right", "Great", "Exactly", "Hold on", "Sure", "Yes", "Okay", "Got it", "Lovely",
                  "Perfect", "Sounds good", "Anything else", "Cheers", "Here it is", "There it is",
                  *WELCOME}
# groups matched only where a clause ends: their members differ in the object they take
# ("I'll check them" is not "Let me pull that up them", "no problem with the pressure" not "happy to
# help with the pressure", "You're welcome to call" not "Any time to call", "I'll hold it" not
# "I'll stay on the line it")
CLAUSE_END = {*CHECK, *NO_PROBLEM, *WELCOME, *WAIT, *CARE, *ELSE}
HINDI = [
    ["धन्यवाद", "शुक्रिया", "बहुत धन्यवाद", "बहुत-बहुत शुक्रिया"],
    ["नमस्ते", "नमस्कार"],
    ["ठीक है", "जी ठीक है", "अच्छा", "चलिए ठीक है"],
    ["बताइए", "बता दीजिए", "बताइएगा"],
    ["आपका दिन शुभ हो", "आपका दिन अच्छा रहे", "दिन मंगलमय हो"],
    ["अपना ध्यान रखिए", "ख़याल रखिए", "सेहत का ध्यान रखिए"],
    ["माफ़ कीजिए", "क्षमा कीजिए", "माफ़ी चाहते हैं"],
    ["असुविधा के लिए खेद है", "तकलीफ़ के लिए माफ़ी चाहते हैं", "परेशानी के लिए खेद है"],
    ["दिख रही है", "नज़र आ रही है"],
    ["दिख रहा है", "नज़र आ रहा है"],
    ["बता सकते हैं", "बता देंगे", "बताएँगे"],
    ["एक मिनट", "एक सेकंड", "ज़रा रुकिए"],
    ["अभी चेक कर लेते हैं", "अभी देख लेते हैं", "अभी पता करते हैं"],
    ["बहुत ज़्यादा", "काफ़ी ज़्यादा"],
    ["जी हाँ", "हाँ जी"],
    ["ज़रूर", "बिल्कुल"],
    ["कोई बात नहीं", "कोई दिक़्क़त नहीं"],
    ["परेशानी", "दिक़्क़त", "समस्या"],
]
# not after "make", "be", "for", "not", "so": "make sure" is not "make of course"
# nor after "do", "did", "should", "how": "Do I need to" is not "Do I'd like to", "How would you
# like" is not "How can you like"
_NOT_AFTER = r"(?<!\bmake )(?<!\bbe )(?<!\bfor )(?<!\bnot )(?<!\bso )(?<!\bdo )(?<!\bdid )(?<!\bshould )(?<!\bhow )"
_START = r"(?:^|(?<=[.!?] ))"


def _alternatives(phrases: set[str]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))  # the longest first


_ALL = {p for g in PARAPHRASES for p in g}
# one lookbehind per position, not per phrase: the general phrases first, so "Okay then" is not
# taken for "Okay" and "then"
_END = r"(?=[.,!?;:]|$)"
_PHRASE = re.compile("|".join(rf"{before}\b(?:{_alternatives(phrases)}){after}" for before, phrases, after in [
    (_NOT_AFTER, _ALL - SENTENCE_START - CLAUSE_END, r"\b"),
    (_START, SENTENCE_START - CLAUSE_END, r"\b"),
    (_NOT_AFTER, CLAUSE_END - SENTENCE_START, _END),
    (_START, SENTENCE_START & CLAUSE_END, _END),
]), re.IGNORECASE)
_GROUP_OF = {p: g for g in PARAPHRASES for p in g}
_HI_GROUP_OF = {p: g for g in HINDI for p in g}
# Devanagari vowel signs are not \w to `re`: a Hindi phrase ends where no letter or sign (danda aside) follows
_HI_PHRASE = re.compile("|".join(rf"(?<![\w\u0900-\u0963\u0966-\u097F]){re.escape(p)}(?![\w\u0900-\u0963\u0966-\u097F])"
                                 for p in sorted(_HI_GROUP_OF, key=len, reverse=True)))
_PROTECTED = re.compile(r"(\[[^\[\]]*\]|\{[^{}]*\})")


def _case(alt: str, like: str, starts: bool) -> str:
    """`alt` capitalised like `like`; after "I ..." (always capitalised) like where it stands:
    "That's the earliest, I'm afraid" is "..., unfortunately", not "..., Unfortunately"."""
    if alt.startswith(("I ", "I'")) or alt[:2].isupper():
        return alt
    upper = starts if like.startswith(("I ", "I'")) else like[0].isupper()
    return (alt[0].upper() if upper else alt[0].lower()) + alt[1:]


def _hi_group(m: re.Match) -> str:
    said = m.group(0)
    return "[" + "|".join([said] + [p for p in _HI_GROUP_OF[said] if p != said]) + "]"


def _group(m: re.Match) -> str:
    said = m.group(0)
    key = next(p for p in _GROUP_OF if p.lower() == said.lower())
    starts = not m.string[: m.start()].strip() or m.string[: m.start()].rstrip()[-1] in ".!?"
    return "[" + "|".join([said] + [_case(p, said, starts) for p in _GROUP_OF[key] if p.lower() != said.lower()]) + "]"


@functools.lru_cache(maxsize=4096)  # a line is expanded for every conversation that says it
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
    """One composition of a beat's `lines`. Without a variant, a random one. With one, the
    variant-th of a walk fixed by `key` (the scenario, role and beat): the lines take turns, and
    each line's compositions are visited so that neighbouring variants differ in every `[a|b]`
    group (a consecutive count's digits, each group adding the ones before it), not only the
    last: the jobs of one scenario have neighbouring variants, and a composition that changes one
    word leaves the rest of the line's 3-grams alike. No composition comes twice before every
    composition of its line has come once."""
    lines = [expand(line, lang) for line in lines]
    if variant is None:
        i, picks = rng.choice(compositions(lines))
        return compose(lines[i], picks)
    salt, step = divmod(variant, WALK)  # the run's own walk, from its start: every line takes turns first
    keyed = random.Random(hashlib.sha256(f"{key}:{salt}".encode()).hexdigest())
    order = list(range(len(lines)))
    keyed.shuffle(order)
    i, n = _line_of(step, [_count(lines[j]) for j in order])
    line = lines[order[i]]
    picks, total = [], 0
    for size in (len(g) for g in parts(line)):
        n, digit = divmod(n, size)
        total += digit
        picks.append((total + keyed.randrange(size)) % size)
    return compose(line, tuple(picks))


def _count(line: str) -> int:
    return math.prod(len(g) for g in parts(line))


def _line_of(variant: int, counts: list[int]) -> tuple[int, int]:
    """Which line the variant-th composition is from, and which of that line's: the lines take
    turns, a line whose compositions are all used drops out of the turn, and after all are used
    it starts again."""
    n = variant % sum(counts)
    done = 0  # compositions of each line used in full rounds so far
    for level in sorted(set(counts)):
        active = [j for j, c in enumerate(counts) if c > done]
        block = (level - done) * len(active)
        if n < block:
            return active[n % len(active)], done + n // len(active)
        n -= block
        done = level
    raise AssertionError("unreachable: n < sum(counts)")


def plain(line: str) -> str:
    """`line` with each `[a|b]` group as its first alternative (for checks that need text)."""
    return compose(line, tuple(0 for _ in parts(line)))


# --- rewording by style (English; other languages keep the scenario's wording) -------------

CONTRACT = [("I am", "I'm"), ("I will", "I'll"), ("do not", "don't"), ("it is", "it's"),
            ("It is", "It's"), ("cannot", "can't"), ("you are", "you're"), ("We are", "We're"),
            ("we are", "we're"), ("that is", "that's"), ("There is", "There's"), ("is not", "isn't"),
            ("did not", "didn't"), ("I would", "I'd"), ("Let us", "Let's"), ("will not", "won't"),
            ("You are", "You're"), ("That is", "That's"), ("there is", "there's"), ("What is", "What's"),
            ("what is", "what's"), ("does not", "doesn't"), ("are not", "aren't"), ("was not", "wasn't"),
            ("could not", "couldn't"), ("would not", "wouldn't"), ("has not", "hasn't"), ("have not", "haven't"),
            ("you will", "you'll"), ("You will", "You'll"), ("we will", "we'll"), ("We will", "We'll"),
            ("it will", "it'll"), ("they are", "they're")]
# said in full by a careful speaker, never shortened by a hurried one ("I have a" is not "I've a")
EXPAND_ONLY = [("I have", "I've"), ("we have", "we've"), ("We have", "We've"), ("you have", "you've"),
               ("You have", "You've"), ("Here is", "Here's"), ("here is", "here's")]
# "it's", "that's", "I'd" before a participle are "it has", "I had": a careful speaker leaves them
PERFECT = (r"(?! (?:already |just |never |now |really |also )?(?:\w+ed|\w+en|been|got|gone|come|had|become|"
           r"left|brought|hit|put|made|sent|done|seen|said|told|paid|bought|lost|found|run|set|cut|sold|won)\b)")
POLITE_ASK = [(r"^(Can|Could) you\b", r"Would you mind if I asked you to"), (r"^What's\b", "May I ask what's"),
              (r"^Can I (have|get)\b", r"Could I please \1")]
HEDGES = ["I think ", "As far as I can tell, ", "Just so you know, ", "To be honest, ", "Basically, "]
HEDGEABLE = {"the", "that", "it", "it's", "your", "you", "you'll", "we", "we've", "we'll", "there", "there's",
             "this", "our", "my", "so", "everything", "nothing"}
TERSE_DROP = re.compile(r"^(?:Okay|Alright|Right|Sure|Great|Perfect|Thanks|Thank you|Got it|Understood)[,.!]\s+")


def restyle(text: str, persona: Persona, lang: str, rng: random.Random, keep: frozenset[str] = frozenset()) -> str:
    """Reword a rendered line the way this speaker talks: contractions for fast or hurried
    speakers and none for formal ones, softened questions for polite ones, hedges for verbose
    ones, bare answers for terse ones."""
    if lang != "en":
        return text
    style = persona.style
    formal = style.politeness == "high" and style.pace != "fast" and style.mood not in ("hurried", "frustrated")
    casual = style.pace == "fast" or style.mood in ("hurried", "frustrated") or persona.age == "18-29"
    # some speakers say words in full out of habit even when not formal (idiolect, seeded by id)
    careful = not casual and random.Random(f"careful:{persona.id}").random() < 0.35
    if (formal and rng.random() < 0.7) or (careful and rng.random() < 0.6):
        for long, short in CONTRACT + EXPAND_ONLY:  # "it's" before "been" or "happened" is "it has"
            after = PERFECT if short.endswith(("'s", "'d")) else ""
            text = re.sub(rf"\b{re.escape(short)}\b{after}", long, text)
    elif casual:
        for long, short in CONTRACT:  # not at a sentence's end: "Yes, it is." stays
            text = re.sub(rf"\b{re.escape(long)}\b(?![.,!?]|$)", short, text)
    if style.politeness == "high" and rng.random() < 0.5:
        for pattern, repl in POLITE_ASK:
            new = re.sub(pattern, repl, text)
            if new != text:
                text = new
                break
    text = speak_like(text, persona, rng, keep)  # keep: names that stay capitalised after "So"
    first = text.split(" ", 1)[0].rstrip(",.!?")
    if style.verbosity == "verbose" and rng.random() < 0.35 and first.lower() in HEDGEABLE:
        text = rng.choice(HEDGES) + text[0].lower() + text[1:]
    if style.verbosity == "terse":
        trimmed = TERSE_DROP.sub("", text)
        if trimmed and trimmed != text:
            text = trimmed[0].upper() + trimmed[1:]
    return text


# --- an idiolect: what this one speaker says out of habit -------------------------------------
# Every drawn or file persona gets, seeded by its id, a couple of adverbs it slips in after "I'll",
# "I've", "I can" ("I'll just check", "I've now sent it"), discourse markers it starts a second
# sentence with ("... on my card. So the reference is ...") and how often it does either. One
# speaker is consistent over a call; two speakers differ, as people do. Never before a capitalised
# word or a number (a fact stays as written), never "Actually" or "No" at a line's start
# (repair.py reads those as corrections).

ADVERBS = ["just", "actually", "now", "really", "definitely", "quickly"]  # none that change what is said ("also")
ADVERB_FITS = {  # the auxiliaries each adverb reads well after
    "just": {"i'll", "we'll", "i've", "we've", "i can", "we can", "you can", "i'd", "you'll", "i'm", "i just"},
    "actually": {"i'll", "we'll", "i've", "we've", "i can", "we can", "you can", "i'd", "you'll", "i'm"},
    "now": {"i've", "we've", "you can", "you'll"},
    "really": {"i'd", "i'm"},
    "definitely": {"i'll", "we'll", "you'll", "i can", "we can", "i'd"},
    "quickly": {"i'll", "we'll", "i can", "we can"},
}
AUXILIARY = re.compile(r"\b(I'll|we'll|We'll|I've|we've|We've|I can|we can|We can|you can|You can|I'd|you'll|You'll|I'm)"
                       r" (?=([a-z]+)\b)")
INTENSIFIERS = ["really", "quite", "pretty", "very", "so"]
ADJECTIVES = ("sorry|worried|sure|urgent|common|normal|late|important|easy|simple|quick|frustrating|annoying|"
              "expensive|high|low|busy|tight|full|strange|odd|unusual|helpful|grateful|glad|happy|confused|"
              "disappointed|concerned|stressful|long|slow|nervous|tired|straightforward|rare|serious|bad|good")
INTENSIFIABLE = re.compile(rf"\b(is|are|was|it's|that's|I'm|I am|be|feel|seems|sounds|looks) (?=({ADJECTIVES})\b)")
MARKERS = ["So", "Now,", "And", "Right,", "Okay, so", "Well,", "Anyway,", "So yeah,", "Alright, so", "Basically,"]
STARTERS = {"The", "It", "It's", "I", "I'll", "I've", "I'm", "You", "You'll", "Your", "We", "We'll", "We've",
            "That", "That's", "There", "There's", "This", "If", "Our", "My", "Once", "Then"}
SENTENCE = re.compile(r"(?<=[.!?]) (?=([A-Z][\w']*)\b)")


def idiolect(persona: Persona) -> tuple[list[str], list[str], float]:
    """(adverbs and, last, an intensifier; markers; how often) of this speaker, the same every
    time it is asked."""
    r = random.Random(f"idiolect:{persona.id}")
    adverbs = r.sample(ADVERBS, 2) + [r.choice(INTENSIFIERS)]
    markers = r.sample(MARKERS, 2)
    rate = {"terse": 0.25, "normal": 0.45, "verbose": 0.7}[persona.style.verbosity]
    return adverbs, markers, rate


def speak_like(text: str, persona: Persona, rng: random.Random, keep: frozenset[str] = frozenset()) -> str:
    """`text` with this speaker's habitual adverbs and sentence openers."""
    adverbs, markers, rate = idiolect(persona)
    *adverbs, intensifier = adverbs

    def adverb(m: re.Match) -> str:
        aux, following = m.group(1).lower(), m.group(2)
        if following in ADVERBS or following in ("not", "never", "no", "nothing", "be", "sorry", "afraid", "a", "the", "got", "see", "hear"):
            return m.group(0)
        if aux == "i'm" and not following.endswith("ing"):
            return m.group(0)  # "I'm just calling", not "I'm just sorry"
        fits = [a for a in adverbs if aux in ADVERB_FITS[a]]
        if fits and rng.random() < rate:
            return f"{m.group(1)} {rng.choice(fits)} "
        return m.group(0)

    def marker(m: re.Match) -> str:
        word = m.group(1)
        before = re.split(r"[.!?] ", m.string[: m.start()])[-1]  # the sentence before: not after "Hi."
        if word not in STARTERS or len(before.split()) < 3 or rng.random() >= rate:
            return m.group(0)
        return f" {rng.choice(markers)} "

    text = AUXILIARY.sub(adverb, text)
    text = INTENSIFIABLE.sub(lambda m: f"{m.group(1)} {intensifier} " if rng.random() < rate else m.group(0), text)
    text = SENTENCE.sub(marker, text)
    # a marker is followed by the sentence it opens, lower-cased unless it starts with "I" or a name
    keep = keep | PROPER
    return re.sub(r"((?:So|Now,|And|Right,|Okay, so|Well,|Anyway,|So yeah,|Alright, so|Basically,) )"
                  r"(?!I\b|I'|[A-Z]{2})([A-Z][a-z']*)",
                  lambda m: m.group(1) + (m.group(2) if m.group(2) in keep else m.group(2).lower()), text)


PROPER = {*"Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
          *"January February March April May June July August September October November December".split()}


# Calling the peer by name after an acknowledgement ("Thanks, Megan. I have ..."), as people on
# the phone do once they know it: how often is this speaker's habit, more for the role that
# answers the call. English only; a name is never inserted into a line that already has it.
ACKNOWLEDGED = re.compile(r"^((?:Thanks|Thank you|Okay|OK|Right|Alright|All right|Great|Perfect|Sure|Of course|"
                          r"Cheers|Lovely|Got it|Brilliant|Understood|Excellent)(?: then| so much| very much)?)([,.!])\s")


def address(text: str, peer: str, persona: Persona, rng: random.Random) -> str:
    """`text` with the peer's name after its opening acknowledgement, as this speaker tends to."""
    if peer in text or not peer[:1].isupper():
        return text
    habit = random.Random(f"names:{persona.id}").choice([0.0, 0.15, 0.3, 0.5])
    m = ACKNOWLEDGED.match(text)
    if not m or rng.random() >= habit:
        return text
    return f"{m.group(1)}, {peer}{m.group(2)} {text[m.end():]}"
