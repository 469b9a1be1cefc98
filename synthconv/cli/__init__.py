"""The command line, one module per command: generate, worker, inspect, export, impair, serve, scenarios
and personas."""

from __future__ import annotations

import io
import sys

from . import export, generate, impair, inspect, library, serve, worker  # noqa: F401 - each registers its command on `app`
from .common import app


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # any terminal or pipe encoding: a name in Hindi never crashes a report
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    app(prog_name="synthconv")


__all__ = ["app", "main"]
