"""Why an OpenAI engine gave up, as one line for the job's error, and whether a retry of the
job may help: OpenAIUnavailable (transient) or OpenAIRejected (not)."""

from __future__ import annotations

from .config import OpenAIConfig


class OpenAIUnavailable(ConnectionError):
    """A part kept failing after its retries (rate limits, 5xx, dropped connections): the job
    fails, and the batch may retry it later (a ConnectionError counts as transient)."""


class OpenAIRejected(RuntimeError):
    """A part's requests are rejected (bad key, unknown model, bad request): retrying won't help."""


_PARTS_BY_ERROR = {"llm_error": "llm", "stt_error": "stt", "tts_error": "tts", "realtime_model_error": "realtime"}


def job_error(cfg: OpenAIConfig, err) -> Exception:  # noqa: ANN001 - livekit LLMError/STTError/...
    """One line for the job's error: which part, where, and what the API said."""
    from livekit.agents import APIConnectionError, APIError, APIStatusError

    name = _PARTS_BY_ERROR.get(getattr(err, "type", ""), "openai")
    part = cfg.parts.get(name)
    where = part.where if part else name
    error = getattr(err, "error", err)
    status = error if isinstance(error, APIStatusError) else None
    cause = error
    while status is None and cause is not None:  # "failed after N attempts" wraps the last status
        cause = cause.__cause__
        status = cause if isinstance(cause, APIStatusError) else None
    if status is not None:
        body = status.body if isinstance(status.body, dict) else {}
        what = body.get("message") or status.message
        line = f"{where}: HTTP {status.status_code} {what}"
        if status.status_code in (408, 409, 429) or status.status_code >= 500:
            return OpenAIUnavailable(f"{line} (after retries)")
        return OpenAIRejected(line)
    message = error.message if isinstance(error, APIError) else f"{type(error).__name__}: {error}"
    if isinstance(error, APIConnectionError) or (isinstance(error, APIError) and error.retryable):
        return OpenAIUnavailable(f"{where}: {message}")
    return OpenAIRejected(f"{where}: {message}")
