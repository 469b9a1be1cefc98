"""`synthconv export`: a run as Hugging Face, NeMo and RTTM datasets, with splits and a card."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import app, console, err, fail


@app.command()
def export(
    run: Path = typer.Argument(..., help="A run folder."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder for the export."),
    format: list[str] = typer.Option(["hf"], "--format", "-f", help="hf, nemo or rttm (repeatable)."),
    split: str = typer.Option("80/10/10", "--split", help="train/dev/test shares in percent."),
    split_by: str = typer.Option("persona", "--split-by",
                                 help="persona (no speaker in two splits), scenario, or conversation."),
    audio: str = typer.Option("clean", "--audio", help="clean (tracks/) or impaired (impaired/, see `synthconv impair`)."),
) -> None:
    """Export a run's complete conversations for datasets, NeMo or pyannote, with a dataset card."""
    from ..errors import RunFolderError
    from ..export import export as run_export

    t0 = time.monotonic()
    try:
        summary = run_export(run, out, list(dict.fromkeys(format)), split=split, split_by=split_by, audio=audio)
    except (ValueError, RunFolderError) as e:
        fail(str(e))
    except OSError as e:
        fail(f"--out: cannot write to {out} ({e.strerror}: {e.filename})")
    splits = ", ".join(f"{n} {s}" for s, n in summary.splits.items())
    console.print(f"exported {summary.conversations} conversations ({splits}) as {', '.join(format)} to {out}: "
                  f"{summary.files} files in {time.monotonic() - t0:.1f} s; see {out / 'README.md'}",
                  highlight=False, markup=False)
    for warning in summary.warnings:
        err.print(f"warning: {warning}", highlight=False, markup=False)
