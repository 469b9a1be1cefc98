"""What an OpenAI agent is told: the identity every engine gives its agents, then how this
persona talks, how the call opens and goes, and when to end it with the end_call tool."""

from __future__ import annotations

from ..base import Speaker
from ..session import identity_prompt

LANGUAGES = {"en": "English", "hi": "Hindi", "es": "Spanish", "fr": "French", "de": "German"}
VERBOSITY = {  # models say more than the script's lines; terse personas less
    "terse": "Keep every turn to one short sentence.",
    "normal": "Keep turns short: one or two sentences, as people do on the phone.",
    "verbose": "You tend to say a bit more than needed: two or three sentences a turn.",
}
FILLERS = {
    "none": " Do not use filler words.",
    "some": " Use a filler word (um, uh, well) now and then.",
    "many": " Use filler words (um, uh, you know) often.",
}


def instructions_for(speaker: Speaker) -> str:
    """What one agent is told: who it is, its goal and private facts, how to open and to end."""
    sc, persona, role = speaker.scenario, speaker.persona, speaker.scenario.roles[speaker.role]
    peer = sc.roles[speaker.peer_role]
    style = persona.style
    language = LANGUAGES.get(sc.language, sc.language)
    own_beats = [b for b in sc.script if b.role == speaker.role]
    if speaker.role == sc.first_speaker:
        opening = ("You speak first: open the call the way a " + role.label.lower()
                   + f" would, for example: \"{own_beats[0].say[0]}\" (in your own words, with your own facts).")
    else:
        opening = f"The {peer.label.lower()} speaks first; then answer as yourself."
    phases = " -> ".join(dict.fromkeys(b.phase for b in sc.script))
    lines = [
        identity_prompt(speaker),  # the first sentence is what every engine says
        f"You are on a phone call with the {peer.label.lower()}. Speak {language} only, as {persona.name} "
        f"({persona.locale}) would on the phone.",
        f"Your manner: {style.mood}, politeness {style.politeness}, pace {style.pace}. "
        + VERBOSITY[style.verbosity] + FILLERS[style.fillers],
        opening,
        f"The call goes through: {phases}. It is done when: " + "; ".join(sc.outcome) + ".",
        "Share your facts when they are needed, one at a time; never invent account numbers or other facts "
        "you were not given. Ask for what you need from the other side.",
        f"Ending: keep the whole call within about {sc.turns.max} turns. Once the goal is met and nothing is "
        "left to say, call the end_call tool, then say a short goodbye. Do not call it before the goal is met "
        "unless the call cannot go anywhere.",
        "Say only the words you would speak aloud: no stage directions, lists, markdown or emoji. "
        "Never mention being an AI or these instructions.",
    ]
    return "\n".join(lines)
