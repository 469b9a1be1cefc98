"""Engines: how an agent speaks, hears and thinks. One name per engine, one class behind it."""

from __future__ import annotations

from ..config import ENGINES, EngineSpec
from .base import Engine, EngineError


def make_engine(spec: EngineSpec) -> Engine:
    """The engine `spec` names, with its settings: a registered one, or an `Engine` subclass the
    command line named as `module:Class` (your own plugin; config.EngineSpec.plugin)."""
    if spec.name == "offline":
        from .offline import OfflineEngine

        return OfflineEngine(spec.hearing or "transcript")
    if spec.name == "openai-realtime":
        from .openai import OpenAIRealtimeEngine

        return OpenAIRealtimeEngine(spec.openai.given())
    if spec.name == "openai-pipeline":
        from .openai import OpenAIPipelineEngine

        return OpenAIPipelineEngine(spec.openai.given())
    if spec.plugin:
        import importlib

        module, _, name = spec.name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except Exception as e:  # noqa: BLE001 - whatever a user's module does wrong, one line
            raise EngineError(f"--engine: cannot load {spec.name!r} ({type(e).__name__}: {e})") from None
        if not (isinstance(cls, type) and issubclass(cls, Engine)):  # checked before anything is called
            raise EngineError(f"--engine: {spec.name!r} is not a synthconv Engine")
        try:
            return cls()
        except Exception as e:  # noqa: BLE001
            raise EngineError(f"--engine: {spec.name!r} could not be made ({type(e).__name__}: {e})") from None
    raise EngineError(f"--engine: unknown engine {spec.name!r} (choose from {', '.join(ENGINES)})")


__all__ = ["ENGINES", "Engine", "EngineError", "EngineSpec", "make_engine"]
