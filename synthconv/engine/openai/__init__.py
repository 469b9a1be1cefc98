"""The OpenAI engines: Realtime speech-to-speech agents, and an STT -> LLM -> TTS pipeline.

- `openai-realtime` (realtime.py): one OpenAI Realtime session per agent, turns found by the
  model's server VAD.
- `openai-pipeline` (pipeline.py): openai STT, LLM and TTS plugins with silero VAD, each part
  with its own model and base URL.

Both give the agent an `end_call` tool (agent.py): the agent calls it once the scenario's goal is
met and then says its goodbye; the call ends once that has been heard (or at the turn/time
limit). What the agent is told is in prompt.py, the settings (environment variables) in
config.py, what both engines share (checks, cost estimate, failing a job) in base.py, and how a
part's failure becomes the job's error in errors.py.
"""

from __future__ import annotations

from .agent import OpenAIRoleAgent
from .base import SPEED, WORDS_PER_SECOND
from .config import DEFAULT_MODELS, OPENAI_API, TTS_FORMATS, OpenAIConfig, Part, redact_url
from .errors import OpenAIRejected, OpenAIUnavailable, job_error

# The engine modules import livekit.plugins.openai (and the openai SDK's Realtime types) at module
# import, not when a session is built: livekit plugins must register on the main thread (a
# LiveKit worker builds sessions in job threads: it imports this package at start), and these
# imports take a second or more, which would block a job's event loop.
from .pipeline import OpenAIPipelineEngine
from .prompt import LANGUAGES, VERBOSITY, instructions_for
from .realtime import OpenAIRealtimeEngine, realtime_session_options

__all__ = [
    "DEFAULT_MODELS", "LANGUAGES", "OPENAI_API", "SPEED", "TTS_FORMATS", "VERBOSITY", "WORDS_PER_SECOND",
    "OpenAIConfig", "OpenAIPipelineEngine", "OpenAIRealtimeEngine", "OpenAIRejected", "OpenAIRoleAgent",
    "OpenAIUnavailable", "Part", "instructions_for", "job_error", "realtime_session_options", "redact_url",
]
