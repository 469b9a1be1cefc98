"""Every error synthconv reports to a user, and which failures are worth another attempt.

Each message is one line naming the file, field or flag at fault: the CLI prints it and exits 2,
or it becomes the error of the one conversation it concerns.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting of the run is unusable; the message starts with the flag (or run.json field)."""


class LibraryError(ValueError):
    """A scenario or persona file is unusable; the message names the file and the field."""


class EngineError(RuntimeError):
    """The engine cannot run here (missing key, missing voice, bad setting)."""


class LiveKitError(RuntimeError):
    """A LiveKit problem (credentials, server, dispatch, an agent that never joined or left)."""


class AgentUnderTestError(RuntimeError):
    """The agent under test did not do its part of the call (no worker took it, it published no
    audio, it left early). Never retried: a flaky agent must show as failed, not be hidden."""


class RunFolderError(ValueError):
    """The run folder cannot be used as asked, or is not a readable run."""


# LiveKit API errors worth another room: the server (or the Redis behind it) was briefly unable
LIVEKIT_TRANSIENT_CODES = frozenset({"unknown", "internal", "unavailable", "deadline_exceeded",
                                     "resource_exhausted", "aborted", "canceled"})


def transient(e: BaseException) -> bool:
    """Whether a failed conversation may succeed if tried again (time-outs, dropped
    connections, rate limits, a LiveKit agent that never joined: a fresh room may do better;
    a LiveKit server node or its Redis that was briefly gone, issue 27)."""
    import aiohttp
    from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError
    from livekit.api import TwirpError

    if isinstance(e, LiveKitError):
        return True
    if isinstance(e, APIStatusError):
        return e.retryable
    if isinstance(e, TwirpError):
        return e.code in LIVEKIT_TRANSIENT_CODES
    return isinstance(e, (TimeoutError, ConnectionError, APIConnectionError, APITimeoutError, aiohttp.ClientError))
