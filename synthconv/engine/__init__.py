"""Engines: how an agent speaks, hears and thinks. One name per engine, one class behind it."""

from __future__ import annotations

from .base import Engine, EngineError

ENGINES = ("offline",)


def make_engine(name: str) -> Engine:
    if name == "offline":
        from .offline import OfflineEngine

        return OfflineEngine()
    raise EngineError(f"--engine: unknown engine {name!r} (choose from {', '.join(ENGINES)})")


__all__ = ["ENGINES", "Engine", "EngineError", "make_engine"]
