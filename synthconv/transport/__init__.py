"""Transports: where the two agents' audio travels. Each returns a `Recording` of one job."""

from __future__ import annotations

from ..engine.base import Engine
from ..job import Job
from ..recorder import Recording
from ..scenario import Library

TRANSPORTS = ("local", "livekit")


async def converse(transport: str, job: Job, library: Library, engine: Engine, timeout: float,
                   options: dict | None = None, admission=None) -> Recording:  # noqa: ANN001
    """One conversation of `job`. `options`: engine spec and library folders (for remote agents),
    and the turn-taking model of the local bridge (a room's timing is measured, not modeled).
    `admission`: a room's place in its run's queue for agent workers (transport/admission.py)."""
    if transport == "local":
        from .local import converse as local_converse

        return await local_converse(job, library, engine, timeout=timeout,
                                    turn_taking=(options or {}).get("turn_taking", "natural"))
    if transport == "livekit":
        from .livekit import converse as livekit_converse

        return await livekit_converse(job, library, options or {}, timeout=timeout, admission=admission)
    raise ValueError(f"--transport: unknown transport {transport!r}")
