"""Transports: where the two agents' audio travels. Each returns a `Recording` of one job."""

from __future__ import annotations

from ..config import TRANSPORTS, RunConfig
from ..engine.base import Engine
from ..job import ResolvedJob
from ..recording import Recording


async def converse(config: RunConfig, played: ResolvedJob, engine: Engine, admission=None) -> Recording:  # noqa: ANN001
    """One conversation of `played` over `config.transport`, within `config.job_timeout`: on the
    local bridge the turn-taking model places every turn; in a room it is measured. `admission`:
    a room's place in its run's queue for agent workers (transport/admission.py)."""
    if config.transport == "local":
        from .local import converse as local_converse

        return await local_converse(played, engine, timeout=config.job_timeout, turn_taking=config.turn_taking)
    if config.transport == "livekit" and played.under_test is not None:  # somebody else's agent on the line
        from .caller import converse as call_agent

        return await call_agent(played, config, engine, timeout=config.job_timeout)
    if config.transport == "livekit":
        from .livekit import converse as livekit_converse

        return await livekit_converse(played, config, timeout=config.job_timeout, admission=admission)
    raise ValueError(f"--transport: unknown transport {config.transport!r} (choose from {', '.join(TRANSPORTS)})")
