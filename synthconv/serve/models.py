"""The shapes of the API's requests and answers, one model each, so the OpenAPI schema at
/api/openapi.json says exactly what the pages read (and what their types could be made from).

Transcript lines and conversations.jsonl lines are the run folder contract's records
(runfolder/schema.py, docs/FORMAT.md); meta.json passes through as an object.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..runfolder.schema import IndexLine, TranscriptLine


class RunRow(BaseModel):
    id: str
    state: str = Field(description="complete, running or killed, why it stopped, or unreadable")
    planned: int
    by_status: dict[str, int]
    started_at: str | None = None
    ended_at: str | None = None
    engine: str | None = None
    transport: str | None = None
    error: str | None = Field(default=None, description="why an unreadable run cannot be read")


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
    failures: list[dict[str, str | None]]
    turn_taking: dict[str, Any] | None
    flags: dict[str, Any]
    damage: list[str]


def _written(record: type[IndexLine]) -> dict[str, Any]:
    """A run folder record's written fields as pydantic field definitions (runfolder/schema.py
    owns them; the API says the same)."""
    hints = get_type_hints(record)
    return {f.name: (hints[f.name], ... if f.default is MISSING else f.default)
            for f in fields(record) if f.name in record.WRITTEN}


ConversationRow = create_model("ConversationRow", __doc__="A conversations.jsonl line (runfolder.schema.IndexLine): "
                               "status ok, failed or pending", **_written(IndexLine))


class ConversationList(BaseModel):
    conversations: list[ConversationRow]  # type: ignore[valid-type]  # built by create_model: no static type


Turn = TranscriptLine  # a transcript.jsonl line, as runfolder/schema.py defines it


class Audio(BaseModel):
    mix: str | None
    tracks: dict[str, str]


class Conversation(ConversationRow):  # type: ignore[misc,valid-type]
    meta: dict[str, Any] | None
    transcript: list[Turn] = Field(description="its usable lines; a damaged line is one of the problems")
    problems: list[str] | None = Field(description="contract problems; null with validate=false")
    audio: Audio


# --- conversations started over the API ---------------------------------------------------------


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str = Field(max_length=100, description="A scenario id (see `synthconv scenarios`)")
    personas: dict[str, str] = Field(default_factory=dict, max_length=8,
                                     description="Optionally a persona id per role; the others are drawn")
    engine: str = Field(default="offline", max_length=100, description="offline, openai-realtime or openai-pipeline")
    turn_taking: str = Field(default="natural", max_length=20, description="natural or strict")


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
    state: str | None = Field(description="listening, thinking or speaking")


LiveState = Literal["dispatching", "live", "recording", "ok", "failed"]


class Status(BaseModel):
    id: str
    room: str
    scenario: str
    state: LiveState
    conversation: str | None = Field(default=None, description="the conversation id in its run, once planned")
    participants: list[Participant]
    turns: list[Turn]
    error: str | None


class LiveRow(BaseModel):
    id: str
    scenario: str
    engine: str
    turn_taking: str
    started_at: str
    state: Literal["running", "ok", "failed"]


class LiveList(BaseModel):
    enabled: bool = Field(description="false: this server has no LiveKit (see reason)")
    reason: str | None
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
