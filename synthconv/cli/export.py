"""`synthconv export`: a run as Hugging Face, NeMo, RTTM, Lhotse and caller/agent stereo
datasets, with splits and a card."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import typer

from .common import app, console, err, fail


@app.command()
def export(
    run: Path = typer.Argument(..., help="A run folder."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder for the export (outside the run)."),
    format: list[str] = typer.Option(["hf"], "--format", "-f", help="hf, nemo, rttm, lhotse or stereo (repeatable)."),
    split: str = typer.Option("80/10/10", "--split", help="train/dev/test shares in percent."),
    split_by: str = typer.Option("persona", "--split-by",
                                 help="persona (no speaker in two splits), scenario, or conversation."),
    audio: str = typer.Option("clean", "--audio", help="clean (tracks/) or impaired (impaired/, see `synthconv impair`)."),
    agent_role: list[str] = typer.Option(["agent", "dispatcher"], "--agent-role",
                                         help="-f stereo: the role that goes right (the agent), the first a "
                                              "conversation has (repeatable); the other role goes left."),
) -> None:
    """Export a run's complete conversations for datasets, NeMo, pyannote, Lhotse or a caller/agent
    evaluator, with a dataset card. Damaged conversations are left out, one line each (exit 1)."""
    from ..errors import RunFolderError
    from ..export import ExportOptions
    from ..export import export as run_export

    options = ExportOptions(formats=tuple(dict.fromkeys(format)), split=split, split_by=split_by, audio=audio,
                            agent_roles=tuple(dict.fromkeys(agent_role)))
    t0 = time.monotonic()
    # SIGTERM unwinds like Ctrl-C, so the export's hidden folder is removed on the way out
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        summary = run_export(run, out, options)
    except (ValueError, RunFolderError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.filename or out}: {(e.strerror or str(e)).lower()}")
    finally:
        signal.signal(signal.SIGTERM, old)
    for line in summary.skipped:
        err.print(f"skipped {line}", highlight=False, markup=False)
    splits = ", ".join(f"{n} {s}" for s, n in summary.splits.items())
    console.print(f"exported {summary.conversations} conversations ({splits}) as {', '.join(options.formats)} to {out}: "
                  f"{summary.files} files in {time.monotonic() - t0:.1f} s; see {out / 'README.md'}",
                  highlight=False, markup=False)
    for warning in summary.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
    if summary.skipped:
        raise typer.Exit(1)
