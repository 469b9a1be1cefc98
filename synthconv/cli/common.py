"""What every command shares: the Typer app, the consoles, and the one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import LibraryError
from ..scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, Library, load_library

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Generate datasets of synthetic spoken conversations between two voice agents.")
console = Console(soft_wrap=True)  # long paths and errors stay on one line
err = Console(stderr=True, soft_wrap=True)

# Options more than one command takes, as huggingface_hub's CLI shares them: one spelling, one help.
ScenariosDir = typer.Option(DEFAULT_SCENARIOS, "--scenarios-dir", help="Folder of scenario YAML files.")
PersonasDir = typer.Option(DEFAULT_PERSONAS, "--personas-dir", help="Folder of persona YAML files.")
ScenariosDirOpt = Annotated[Path, typer.Option("--scenarios-dir", help="Folder of scenario YAML files.")]
PersonasDirOpt = Annotated[Path, typer.Option("--personas-dir", help="Folder of persona YAML files.")]
LIVEKIT_ENV = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
LiveKitURL = typer.Option(None, "--livekit-url", envvar="LIVEKIT_URL", show_envvar=True, help="LiveKit server.")
LiveKitKey = typer.Option(None, "--livekit-api-key", envvar="LIVEKIT_API_KEY", show_envvar=True)
LiveKitSecret = typer.Option(None, "--livekit-api-secret", envvar="LIVEKIT_API_SECRET", show_envvar=True)
LiveKitURLOpt = Annotated[str | None, typer.Option("--livekit-url", envvar="LIVEKIT_URL", show_envvar=True,
                                                      help="LiveKit server.")]
LiveKitKeyOpt = Annotated[str | None, typer.Option("--livekit-api-key", envvar="LIVEKIT_API_KEY", show_envvar=True)]
LiveKitSecretOpt = Annotated[str | None, typer.Option("--livekit-api-secret", envvar="LIVEKIT_API_SECRET",
                                                         show_envvar=True)]


def print_json(value: object) -> None:
    """`value` as JSON on stdout, readable by any JSON parser whatever stdout's encoding (non-ASCII
    as \\u escapes where the stream cannot encode it)."""
    import json
    import sys

    utf = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") in ("utf8", "utf8sig")
    print(json.dumps(value, indent=2, ensure_ascii=not utf))


def fail(message: str) -> NoReturn:
    """One line on stderr naming the file, field or flag at fault, and exit code 2."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def library(scenarios_dir: Path, personas_dir: Path) -> Library:
    try:
        return load_library(scenarios_dir, personas_dir)
    except LibraryError as e:
        fail(str(e))


def set_livekit_env(url: str | None, key: str | None, secret: str | None) -> None:
    """The LiveKit flags (or their env vars) as the environment, which child processes inherit."""
    import os

    for var, value in zip(LIVEKIT_ENV, (url, key, secret)):
        if value:
            os.environ[var] = value
