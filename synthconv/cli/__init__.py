"""The command line, one module per command: generate, worker, inspect, export, impair, serve, scenarios,
personas and voices."""

from __future__ import annotations

from . import export, generate, impair, inspect, library, serve, voices, worker  # noqa: F401 - each registers its command on `app`
from .common import app


def main() -> None:
    app(prog_name="synthconv")


__all__ = ["app", "main"]
