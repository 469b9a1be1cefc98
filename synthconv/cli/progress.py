"""What `generate` shows while it runs and when it ends."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..runfolder import IndexLine
from .common import console


class Progress:
    """A rich progress bar on a terminal; plain lines otherwise (CI logs)."""

    def __init__(self, total: int, already: dict) -> None:
        self.total, self.done = total, len(already)
        self.bar = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("{task.description}"), console=console)
            self.task = self.bar.add_task("", total=total, completed=self.done)

    def start(self) -> None:
        if self.bar:
            self.bar.start()

    def update(self, r: IndexLine) -> None:
        self.done += 1
        line = f"[{self.done}/{self.total}] {r.id} {'ok' if r.ok else f'FAILED {r.error}'}"
        if self.bar:
            self.bar.console.print(line, highlight=False, markup=False)
            self.bar.update(self.task, advance=1, description=r.id)
        else:
            console.print(line, highlight=False, markup=False)

    def status(self, text: str) -> None:
        """What the run waits for ("waiting for an agent worker: 3 conversations queued"), or ""."""
        if self.bar:
            self.bar.update(self.task, description=text)
        elif text:
            console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


def summary(out: Path, jobs: list, results: dict[str, IndexLine], wall: float, already: set[str]) -> None:
    ok = [r for r in results.values() if r.ok]
    audio = sum(r.duration_s or 0 for r in ok if r.id not in already)  # made by this invocation
    table = Table(title=f"run {escape(str(out))}")
    for col in ("scenario", "ok", "failed", "audio s", "turns"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    by: dict[str, list[IndexLine | None]] = {}
    for j in jobs:
        by.setdefault(j.scenario, []).append(results.get(j.id))
    for sid, rs in sorted(by.items()):
        oks = [r for r in rs if r is not None and r.ok]
        table.add_row(sid, str(len(oks)), str(len(rs) - len(oks)),  # an ok line has its duration and turns:
                      f"{sum(r.duration_s for r in oks):.1f}",  # type: ignore[misc]
                      str(sum(r.turns for r in oks)))  # type: ignore[misc]
    console.print(table)
    console.print(f"{len(ok)}/{len(jobs)} ok; this invocation made {audio:.1f} s of audio in {wall:.1f} s "
                  f"({audio / wall if wall else 0:.1f}x real time)", highlight=False)
    for r in results.values():
        if not r.ok:
            console.print(f"failed {r.id}: {r.error}", highlight=False, markup=False)
