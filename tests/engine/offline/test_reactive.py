"""The caller that reacts to somebody else's agent (engine/offline/reactive.py): it answers what
it is asked from its facts, corrects a wrong read-back, says an ID slowly when asked again,
raises its needs in turn and ends politely on goal met, goodbye, a stall or the turn limit."""

import re

import pytest
from livekit.agents import llm

from synthconv.engine.base import CallControl
from synthconv.engine.offline import acts
from synthconv.engine.offline.reactive import ReactivePolicy, ids, spell
from synthconv.scenario import draw_facts, load_library


@pytest.fixture(scope="module")
def library():
    return load_library()


class Call:
    """A caller's policy and the chat so far; `agent(line)` is what the agent says, the reply
    what the caller says back."""

    def __init__(self, library, scenario: str, seed: int = 5, **facts: str) -> None:
        sc = library.scenarios[scenario]
        self.role = next(r for r in sc.roles if r != sc.first_speaker)
        self.facts = {**draw_facts(sc, seed)[self.role], **facts}
        persona = next(p for p in library.personas.values() if self.role in p.roles and p.language == sc.language)
        self.name = persona.name
        self.call = CallControl()
        self.policy = ReactivePolicy(scenario=sc, role=self.role, persona=persona, facts=self.facts, seed=seed,
                                     call=self.call, disfluent=False)
        self.chat = llm.ChatContext()

    def agent(self, line: str | None) -> str:
        if line is not None:
            self.chat.add_message(role="user", content=line)
        reply = self.policy.next_line(self.chat)
        if reply:
            self.chat.add_message(role="assistant", content=reply)
        return reply

    @property
    def ended(self) -> str | None:
        return self.call.ending_reason if self.call.ending_role == self.role else None


def test_it_books_the_appointment_answering_each_question_and_ends_when_its_goal_is_met(library):
    c = Call(library, "appointment-booking", dob="the 14th of July 1991")
    opening = c.agent("Good morning, Riverside Medical Centre, you're speaking with Maya. How can I help?")
    assert "appointment" in opening and c.facts["complaint"] in opening  # its request, in its script's words
    assert "14th of July 1991" in c.agent("I'm sorry to hear that. Could I take your date of birth, please?")
    follow_up = c.agent("Thank you, I've found you. Dr. Patel has an opening Thursday at 9:40. Would that work?")
    assert acts.affirms(follow_up) and "?" in follow_up  # yes, and its next need: what to bring
    assert c.ended is None
    goodbye = c.agent("Just your insurance card. Your confirmation number is RS-7734.")
    assert acts.says_goodbye(goodbye) and c.ended == "goal met"
    assert c.agent("Anything else?") == ""  # the call is over


def test_asked_again_it_says_the_number_slowly_and_corrects_a_wrong_read_back(library):
    c = Call(library, "card-lost", card_end="7428", postcode="SW4 7AP")
    c.agent("Thank you for calling, this is James. How can I help?")
    assert "7428" in c.agent("Can I have the last four digits of the card, please?")
    assert "7 4 2 8" in c.agent("Sorry, could you repeat that?")  # said again, digit by digit
    assert re.search(r"^no\b.*7 4 2 8", c.agent("Thanks, so that's 9140, correct?"), re.I)
    assert c.agent("So 7428, correct?").lower().startswith(("yes", "that's right"))
    assert "SW4 7AP" in c.agent("And your postcode?")
    assert c.ended is None


def test_it_says_hello_to_a_silent_agent_then_hangs_up(library):
    c = Call(library, "appointment-booking")
    c.agent("Clinic, how can I help?")
    hello = c.agent(None)  # the agent went quiet: the transport asks for a line
    assert "hello" in hello.lower() and c.ended is None
    last = c.agent(None)
    assert c.ended == "stalled" and acts.says_goodbye(last)


def test_an_agent_saying_the_same_line_over_and_over_is_a_stall(library):
    c = Call(library, "appointment-booking")
    request = c.agent("Clinic, how can I help?")
    again = c.agent("I'm sorry, I didn't understand that.")
    assert c.facts["complaint"] in again and c.ended is None  # the request, said again
    c.agent("Our systems are very busy today.")
    c.agent("Our systems are very busy today.")  # no progress: not an answer
    assert c.ended is None and request
    c.agent("Our systems are very busy today.")
    assert c.ended == "stalled"


def test_it_waits_when_asked_to_and_takes_leave_when_the_agent_says_goodbye(library):
    c = Call(library, "appointment-booking")
    c.agent("Clinic, how can I help?")
    waiting = c.agent("One moment, let me check that for you.")
    assert len(waiting.split()) <= 5 and "?" not in waiting and c.ended is None  # "Sure.": nothing new asked
    bye = c.agent("We're closing now, goodbye.")
    assert acts.says_goodbye(bye) and c.ended == "goodbye"


def test_it_closes_on_the_scenarios_last_turn(library):
    c = Call(library, "appointment-booking")
    line, n = c.agent("Clinic, how can I help?"), 0
    while c.ended is None and line:
        n += 1
        line = c.agent(f"Right. Could you tell me more about the {n}th part?")  # never the same line
    assert c.ended == "turn limit"
    said = [m for m in c.chat.messages() if m.role in ("user", "assistant")]
    assert len(said) <= c.policy.scenario.turns.max


def test_the_same_seed_says_the_same_lines(library):
    lines = []
    for _ in range(2):
        c = Call(library, "card-lost", seed=11)
        lines.append([c.agent(x) for x in ("Hello, how can I help?", "Can I have the last four digits of the card?",
                                          "What was your last transaction?", "Anything else?")])
    assert lines[0] == lines[1]


@pytest.mark.parametrize(("value", "slowly", "found"), [
    ("RS-7734", "R S, 7 7 3 4", ["RS-7734"]), ("4417 2093", "4 4 1 7, 2 0 9 3", ["4417 2093"]),
    ("the 14th of July 1991", "the 14th of July 1991", []), ("$312.40", "$312.40", []),
    ("maria.lopez@example.com", "maria dot lopez at example dot com", []),
])
def test_spelling_an_id_says_each_character_and_leaves_dates_and_amounts(value, slowly, found):
    assert spell(value) == slowly
    assert [m.group(0) for m in ids(value)] == found


@pytest.mark.parametrize(("text", "key", "asks"), [
    ("Could I take your date of birth so I can find your record?", "dob", True),
    ("What was your last transaction?", "last_tx", True),
    ("Who am I speaking with?", "name", True),
    ("What's your pet's name?", "pet_name", True),
    ("What's your pet's name?", "name", False),
    ("Your confirmation number is RS-7734.", "ref", False),  # said, not asked
    ("And the best number to reach you on?", "mobile_end", True),
])
def test_what_the_agent_asks_for(text, key, asks):
    assert acts.asks_about(text, key) is asks
