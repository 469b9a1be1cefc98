"""The offline policy's conversation as text alone: both roles' policies take turns with no
audio, no VAD and no transport. The offline STT hands the listener exactly the words the
speaker said, so this is the text a real offline run says (the bench's quick diversity figures
and the branch checks of the library use it); timing and audio are the real run's business.
"""

from __future__ import annotations

from livekit.agents import llm

from ...job import Job
from ...scenario import Library
from ..base import CallControl
from .policy import DialoguePolicy


def dialogue(job: Job, library: Library) -> list[tuple[str, str]]:
    """(role, text) of every turn of `job`, until a goodbye or the turn limit."""
    played, call = job.resolve(library), CallControl()
    sc = played.scenario
    policies = {r: DialoguePolicy(scenario=sc, role=r, persona=played.personas[r], facts=played.facts[r],
                                  seed=job.seed, call=call, variant=job.variant) for r in played.roles}
    contexts = {r: llm.ChatContext() for r in sc.role_keys}
    turns: list[tuple[str, str]] = []
    speaker, peer = sc.role_keys
    for _ in range(sc.turns.max):
        text = policies[speaker].next_line(contexts[speaker])
        if not text:
            break
        turns.append((speaker, text))
        contexts[speaker].add_message(role="assistant", content=text)
        contexts[peer].add_message(role="user", content=text)
        if call.ending_role is not None:
            break
        speaker, peer = peer, speaker
    return turns
