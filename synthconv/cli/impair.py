"""`synthconv impair`: telephone, noise and packet-loss copies of a finished run's conversations."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from .common import app, console, err, fail


@app.command()
def impair(
    run: Path = typer.Argument(..., help="A run folder."),
    impair: list[str] = typer.Option(..., "--impair", "-i",
                                     help="phone, noise:snr=DB[,kind=pink|brown|white|babble] or loss:RATE (repeatable)."),
    concurrency: int = typer.Option(os.cpu_count() or 1, "--concurrency", "-j", show_default=False,
                                    help="Conversations at once \\[default: cores]."),
) -> None:
    """Write impaired copies (impaired/<role>.wav, impaired/mix.mp3) of every complete conversation,
    replacing earlier ones; the clean tracks stay, meta.json records what was applied."""
    from ..errors import RunFolderError
    from ..impair import impair_run, parse

    try:
        chain = parse(impair)
    except ValueError as e:
        fail(str(e))
    if concurrency < 1:
        fail(f"--concurrency must be at least 1 (got {concurrency})")
    t0 = time.monotonic()
    try:
        problems = impair_run(run, chain, concurrency)
    except RunFolderError as e:
        fail(str(e))
    bad = {cid: p for cid, p in problems.items() if p}
    for _cid, p in bad.items():
        err.print(f"skipped {p}", highlight=False, markup=False)
    console.print(f"impaired {len(problems) - len(bad)} conversations ({' + '.join(i.spec() for i in chain)}) "
                  f"in {time.monotonic() - t0:.1f} s", highlight=False, markup=False)
    if bad:
        raise typer.Exit(1)
