"""The loopback "model": the project's scripted dialogue policy, driven by what an engine sends.

An engine's instructions say who speaks in which scenario: they open with the product's
`identity_prompt` ("You are Maya Chen, the Support agent in this call: <scenario title>. ...
Facts only you know: ...", see synthconv.engine.session.IDENTITY), whose persona name and role
label the loopback reads back with the product's own IDENTITY_PATTERN. It recognises the
scenario by its title, the persona by its name, the role by its label and the drawn facts by
their values, and then plays the role with `DialoguePolicy` on the conversation so far. When
the policy says goodbye, the model first calls the engine's `end_call` tool (if it offers one),
as a real model following the instructions would, and says the goodbye in the reply that the
tool's result asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from livekit.agents import llm

from synthconv.engine.base import CallControl
from synthconv.engine.offline.policy import DialoguePolicy
from synthconv.engine.offline.reactive import HELLO
from synthconv.engine.session import CHECK_IN, IDENTITY_PATTERN
from synthconv.scenario import Library, load_library

from .audio import text_seed


@lru_cache(maxsize=1)
def library() -> Library:
    return load_library()


@dataclass
class Reply:
    text: str  # what to say ("" for nothing)
    end_call: bool  # call the end_call tool (after saying `text`, if any)


class UnknownRole(ValueError):
    pass


def policy_for(instructions: str) -> DialoguePolicy:
    lib = library()
    scenario = next((s for s in lib.scenarios.values() if s.title in instructions), None)
    if scenario is None:
        raise UnknownRole("no scenario title in the instructions")
    m = IDENTITY_PATTERN.search(instructions)
    if not m:
        raise UnknownRole(f"no identity ({IDENTITY_PATTERN.pattern!r}) in the instructions")
    name, label = m["name"], m["role"]
    role = next((k for k, r in scenario.roles.items() if r.label == label), None)
    persona = next((p for p in lib.personas.values() if p.name == name), None)
    if persona is None and role is not None:  # a drawn persona: any of the role's, under its name
        persona = next((p.model_copy(update={"name": name}) for p in lib.personas.values()
                        if role in p.roles and p.language == scenario.language), None)
    if role is None or persona is None:
        raise UnknownRole(f"unknown role {label!r} or persona {name!r}")
    facts = {}
    for key, value in scenario.roles[role].facts.items():
        options = [value] if isinstance(value, str) else sorted(value, key=len, reverse=True)
        facts[key] = next((v for v in options if v in instructions), options[-1])
    return DialoguePolicy(scenario=scenario, role=role, persona=persona, facts=facts,
                          seed=text_seed(repr(sorted(facts.items()))), call=CallControl())


def reply(instructions: str, history: list[tuple[str, str]], *, can_end_call: bool, ended_call: bool,
          goodbye_with_call: bool = False) -> Reply:
    """The next turn for the role in `instructions`, given `history` of (user|assistant, text).

    `goodbye_with_call`: say the goodbye and call end_call in the same response (as some models
    do) instead of calling it first and saying goodbye in the reply to its result. Told to check
    in on a silent peer (`CHECK_IN`), it says a "Hello?" line, as a model would."""
    if CHECK_IN in instructions:
        return Reply(text=HELLO[len(history) % len(HELLO)], end_call=False)
    policy = policy_for(instructions)
    ctx = llm.ChatContext()
    for role, text in history:
        if text:
            ctx.add_message(role=role, content=text)
    text = policy.next_line(ctx)
    final = policy.call.ending_role is not None
    if final and can_end_call and not ended_call:
        return Reply(text=text if goodbye_with_call else "", end_call=True)
    return Reply(text=text, end_call=False)
