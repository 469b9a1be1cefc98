"""Transports: where the two agents' audio travels. Each returns a `Recording` of one job."""

from __future__ import annotations

from ..engine.base import Engine
from ..job import Job
from ..recorder import Recording
from ..scenario import Library

TRANSPORTS = ("local",)


async def converse(transport: str, job: Job, library: Library, engine: Engine, timeout: float) -> Recording:
    if transport == "local":
        from .local import converse as local_converse

        return await local_converse(job, library, engine, timeout=timeout)
    raise ValueError(f"--transport: unknown transport {transport!r}")
