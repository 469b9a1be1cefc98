"""The shapes of the API's requests and answers, one model each, so the OpenAPI schema at
/api/openapi.json says exactly what the pages read (and what their types could be made from).

Transcript lines and meta.json are the run folder contract's (docs/FORMAT.md): a line keeps every
field it has beyond the ones named here, and meta.json passes through as an object.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class RunRow(BaseModel):
    id: str
    state: str = Field(description="complete, running or killed, why it stopped, or unreadable")
    planned: int
    by_status: dict[str, int]
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    engine: Optional[str] = None
    transport: Optional[str] = None
    error: Optional[str] = Field(None, description="why an unreadable run cannot be read")


class RunList(BaseModel):
    runs: list[RunRow]


class RunSummary(BaseModel):
    """`synthconv inspect RUN --json`, plus the run's flags and damage to its own files."""

    model_config = ConfigDict(extra="allow")
    run: str
    state: str
    planned: int
    by_status: dict[str, int]
    by_scenario: dict[str, dict[str, int]]
    by_persona: dict[str, dict[str, int]]
    duration_s: dict[str, Any] = Field(description="total and mean, over the ok conversations")
    turns: dict[str, Any] = Field(description="total and mean")
    wer: dict[str, Any] = Field(description="the spread of the conversations' word error rates")
    failures: list[dict[str, Optional[str]]]
    turn_taking: Optional[dict[str, Any]]
    flags: dict[str, Any]
    damage: list[str]


class ConversationRow(BaseModel):
    id: str
    status: str = Field(description="ok, failed or pending")
    scenario: str
    roles: dict[str, str]
    duration_s: Optional[float] = None
    turns: Optional[int] = None
    error: Optional[str] = None


class ConversationList(BaseModel):
    conversations: list[ConversationRow]


class Turn(BaseModel):
    """A transcript.jsonl line (every field it has; these are the ones every line has)."""

    model_config = ConfigDict(extra="allow")
    turn: int
    role: str
    speaker: str
    text: str
    start: float
    end: float
    interrupted: bool
    heard: Optional[str]


class Audio(BaseModel):
    mix: Optional[str]
    tracks: dict[str, str]


class Conversation(ConversationRow):
    meta: Optional[dict[str, Any]]
    transcript: list[Turn] = Field(description="its usable lines; a damaged line is one of the problems")
    problems: Optional[list[str]] = Field(description="contract problems; null with validate=false")
    audio: Audio


# --- conversations started over the API ---------------------------------------------------------


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(max_length=100, description="A scenario id (see `synthconv scenarios`)")
    personas: dict[str, str] = Field(default_factory=dict, max_length=8,
                                     description="Optionally a persona id per role; the others are drawn")
    engine: str = Field("offline", max_length=100, description="offline, openai-realtime or openai-pipeline")
    turn_taking: str = Field("natural", max_length=20, description="natural or strict")


class ObserverAccess(BaseModel):
    room: str
    livekit_url: str
    observer_token: str = Field(description="hidden, subscribe-only, short-lived")


class Started(ObserverAccess):
    id: str = Field(description="its run folder under --runs")
    token_ttl_s: int
    status: str
    run: str
    page: str = Field(description="the live page (#/live/ID), which becomes the player once it is recorded")


class Participant(BaseModel):
    identity: str
    role: str
    name: str
    state: Optional[str] = Field(description="listening, thinking or speaking")


LiveState = Literal["dispatching", "live", "recording", "ok", "failed"]


class Status(BaseModel):
    id: str
    room: str
    scenario: str
    state: LiveState
    conversation: Optional[str] = Field(None, description="the conversation id in its run, once planned")
    participants: list[Participant]
    turns: list[Turn]
    error: Optional[str]


class LiveRow(BaseModel):
    id: str
    scenario: str
    engine: str
    turn_taking: str
    started_at: str
    state: Literal["running", "ok", "failed"]


class LiveList(BaseModel):
    enabled: bool = Field(description="false: this server has no LiveKit (see reason)")
    reason: Optional[str]
    max_running: int
    conversations: list[LiveRow] = Field(description="started by this server, oldest first")


class PersonaChoice(BaseModel):
    id: str
    name: str


class RoleChoice(BaseModel):
    key: str
    label: str
    personas: list[PersonaChoice] = Field(description="the persona files that may play it (none: always drawn)")


class ScenarioChoice(BaseModel):
    id: str
    title: str
    language: str
    roles: list[RoleChoice]


class Choices(BaseModel):
    scenarios: list[ScenarioChoice]
    engines: list[str]
    turn_taking: list[str]
