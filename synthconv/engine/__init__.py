"""Engines: how an agent speaks, hears and thinks. One name per engine, one class behind it."""

from __future__ import annotations

from .base import Engine, EngineError

ENGINES = ("offline", "openai-realtime", "openai-pipeline")


def make_engine(name: str, hearing: str | None = None) -> Engine:
    """An engine by name, or any `Engine` subclass given as `module:Class` (your own plugin).
    `hearing` is the offline engine's choice of STT (whisper or transcript, the default)."""
    if name == "offline":
        from .offline import OfflineEngine

        return OfflineEngine(hearing or "transcript")
    if name == "openai-realtime":
        from .openai import OpenAIRealtimeEngine

        return OpenAIRealtimeEngine()
    if name == "openai-pipeline":
        from .openai import OpenAIPipelineEngine

        return OpenAIPipelineEngine()
    if ":" in name:
        import importlib

        module, _, cls = name.partition(":")
        try:
            engine = getattr(importlib.import_module(module), cls)()
        except Exception as e:  # noqa: BLE001 - whatever a user's module does wrong, one line
            raise EngineError(f"--engine: cannot load {name!r} ({type(e).__name__}: {e})") from None
        if not isinstance(engine, Engine):
            raise EngineError(f"--engine: {name!r} is not a synthconv Engine")
        return engine
    raise EngineError(f"--engine: unknown engine {name!r} (choose from {', '.join(ENGINES)})")


__all__ = ["ENGINES", "Engine", "EngineError", "make_engine"]
