"""The engine interface: what turns one side of a job into a livekit-agents AgentSession.

A transport (local bridge or LiveKit room) owns the audio; an engine owns the models. The
transport hands the engine a `Speaker` and gets back a session and the agent to start on it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from livekit.agents import Agent, AgentSession

from ..errors import EngineError  # noqa: F401 - engines raise it from here
from ..job import Job, ResolvedJob
from ..scenario import Library, Persona, Scenario


class TranscriptChannel:
    """Texts a speaker published with its audio, waiting for the listener's STT to take them."""

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._arrived = asyncio.Event()

    def put(self, text: str) -> None:
        self._texts.append(text)
        self._arrived.set()

    async def take(self, wait: float = 1.0) -> str:
        """Everything published since the last take; waits briefly if nothing is there yet."""
        if not self._texts:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=wait)
            except TimeoutError:
                return ""
        texts, self._texts = self._texts, []
        return " ".join(texts)


@dataclass
class CallControl:
    """Shared by both speakers and the transport: who asked to end the call, and whether it ended."""

    ending_role: str | None = None
    ending_reason: str | None = None  # "goodbye", "turn limit" (closing early), "bridge limit"
    ended: bool = False
    listeners: list = field(default_factory=list)  # called with the ending role
    error: BaseException | None = None  # why an engine gave up (see fail)
    failure_listeners: list = field(default_factory=list)  # called with that error
    # role -> the words it got out before its peer cut in (set by a transport that models
    # interruptions; the role's next line repairs what was lost)
    interrupted: dict[str, str] = field(default_factory=dict)

    def end_after_turn(self, role: str, reason: str = "goodbye") -> None:
        """`role` is saying its last line; the call ends once it has been heard."""
        if self.ending_role is None:
            self.ending_role, self.ending_reason = role, reason
            for listener in self.listeners:
                listener(role)

    def finish(self) -> None:
        self.ended = True

    def fail(self, error: BaseException) -> None:
        """An engine part gave up (after its own retries): end the call as failed, now."""
        if self.error is None:
            self.error = error
            for listener in self.failure_listeners:
                listener(error)


@dataclass
class Speaker:
    """Everything an engine needs to build one side of a conversation."""

    job: Job
    role: str
    scenario: Scenario
    persona: Persona
    peer_role: str
    facts: dict[str, str]  # this role's facts, one value drawn per conversation
    heard: TranscriptChannel  # what the peer published alongside its audio
    call: CallControl
    # awaited before the first speaker opens the call (a room: until the peer listens)
    peer_ready: Callable[[], Awaitable[None]] | None = None
    turn_taking: str = "natural"  # or "strict": no self-repairs or repetitions in the wording
    barge_in: bool = False  # a room with natural turn-taking: the peer may cut in, and we stop
    # in a room, for an engine whose turns are `scheduled`: when its lines start and when it
    # yields (transport/floor.py); it then needs no VAD, STT or turn detection of its own
    floor: object | None = None
    # the peer is somebody else's agent (an agent under test): no script of its own to follow,
    # so the offline policy reacts to what it is asked (engine/offline/reactive.py)
    reacts: bool = False

    @classmethod
    def of(cls, played: ResolvedJob, role: str, **kw) -> Speaker:  # noqa: ANN003 - the transport's own parts
        """`role` of `played`; `kw` are the transport's parts (heard, call, peer_ready, ...)."""
        return cls(job=played.job, role=role, scenario=played.scenario, persona=played.personas[role],
                   peer_role=played.peer(role), facts=played.facts[role], **kw)


class Engine(ABC):
    """One way of speaking, hearing and thinking. Subclasses are registered in `ENGINES`."""

    name: str
    # In a room, whether this engine's turns follow the seeded turn-taking model (transport/floor.py):
    # offsets, cut-ins and backchannels need the peer's words and their timing as the line
    # starts, which the peer's announced line gives the offline engine (it hears the published
    # transcript); an engine that hears real speech with its own STT finds turns by VAD instead.
    scheduled: bool = False

    @abstractmethod
    def voice(self, persona: Persona) -> dict:
        """The voice settings this engine uses for `persona` (recorded in meta.json)."""

    @abstractmethod
    def build(self, speaker: Speaker) -> tuple[AgentSession, Agent]:
        """A session (not started) and the agent to start it with."""

    def notes(self, scenario: Scenario) -> dict:
        """Facts about how this engine ran `scenario`, for meta.json (e.g. how each role hears)."""
        return {}

    def check(self, personas: list[Persona]) -> None:  # noqa: B027 - an optional hook: engines override what they need
        """Raise `EngineError` if the engine cannot run here (missing key, missing voice...)."""

    def warm_up(self, hears_audio: bool = True) -> None:  # noqa: B027 - an optional hook: engines override what they need
        """Load models once per process, before the first job. `hears_audio` False: it will only
        play `scheduled` turns in rooms (no VAD, no recognizer to load)."""

    def cost_estimate(self, jobs: list[Job], library: Library) -> tuple[float, float, str] | None:
        """(API audio minutes, threshold above which to ask, one-line summary) for running
        `jobs`, or None for a free engine (the CLI asks before a paid run above the threshold)."""
        return None
