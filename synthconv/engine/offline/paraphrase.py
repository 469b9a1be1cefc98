"""Paraphrases: interchangeable phrases that turn one written line into several (English and
Hindi). A template-level rule: it runs on a scenario's lines before their parts are chosen
(wording.py), never inside `{slots}` or `[a|b]` groups."""

from __future__ import annotations

import functools
import re

from .transform import Example, Transform

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


PARAPHRASE = Transform(
    "paraphrase", lambda line, ctx: expand(line.text, ctx.lang),
    examples=(
        Example("Hi {peer}, [thanks|cheers] for calling.", "[Hi|Hello|Hey] {peer}, [thanks|cheers] for calling.",
                "never inside {slots} or [a|b] groups"),
        Example("That's right.", "[That's right|That's correct|Exactly|Yes, that's the one]."),
        Example("Tell me if that's right.", "Tell me if that's right.", "SENTENCE_START: only where a sentence starts"),
        Example("That's the earliest, I'm afraid.", "That's the earliest, [I'm afraid|unfortunately].",
                "capitalised like where it stands"),
        Example("I'm afraid not.", "[I'm afraid|Unfortunately] not."),
        Example("Do I need to have it done again?", "Do I need to have it done again?",
                "not after do/did/should/how: not 'Do I'd like to'"),
        Example("How can you tell?", "How can you tell?"),
        Example("I'll check them for you.", "I'll check them for you.",
                "CLAUSE_END: not 'Let me pull that up them'"),
        Example("Okay, I'll check.", "[Okay|Alright|OK then|Right then|Okay then|All right], [I'll check|let me check|"
                "let me have a look|I'll take a look|let me look into it|let me pull that up|I'll look into it]."),
        Example("Repay it any time. You're welcome to call. No problem with that.",
                "Repay it any time. You're welcome to call. No problem with that.", "CLAUSE_END"),
        Example("I'll hold it. Take care of that tooth.", "I'll hold it. Take care of that tooth.", "CLAUSE_END"),
        Example("Is there anything else I need to do?", "Is there anything else I need to do?",
                "ELSE: only the whole question is an offer"),
        Example("Is there anything else?", "[Is there anything else|Anything else|Can I help with anything else|"
                "Is there something else|Is there anything more]?"),
        Example("Thanks so much.", "[Thanks so much|Thank you|Thanks|Thanks a lot|Many thanks|Thanks very much|"
                "Thank you so much|Cheers|Thanks ever so much].", "looked for whole: not 'Cheers so much'"),
        Example("धन्यवाद, एक मिनट।", "[धन्यवाद|शुक्रिया|बहुत धन्यवाद|बहुत-बहुत शुक्रिया], [एक मिनट|एक सेकंड|ज़रा रुकिए]।",
                lang="hi"),
        Example("मैंने शुरू कर दिया है।", "मैंने शुरू कर दिया है।", "no active/passive group", lang="hi"),
        Example("Danke schön.", "Danke schön.", "other languages keep their wording", lang="de"),
    ),
)
