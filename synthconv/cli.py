"""The command line: `synthconv generate | scenarios | personas`.

Bad input (a broken file, an unknown id, a bad flag value, an unwritable folder) ends with one
line on stderr naming the thing and exit code 2, before anything is written.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from .scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, Library, LibraryError, load_library

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Generate datasets of synthetic spoken conversations between two voice agents.")
console = Console()
err = Console(stderr=True)

ScenariosDir = typer.Option(DEFAULT_SCENARIOS, "--scenarios-dir", help="Folder of scenario YAML files.")
PersonasDir = typer.Option(DEFAULT_PERSONAS, "--personas-dir", help="Folder of persona YAML files.")


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _library(scenarios_dir: Path, personas_dir: Path) -> Library:
    try:
        return load_library(scenarios_dir, personas_dir)
    except LibraryError as e:
        fail(str(e))


def _restrict(library: Library, scenarios: list[str], personas: list[str]) -> Library:
    """Keep only the named scenarios, and only the named personas in their pools."""
    for sid in scenarios:
        if sid not in library.scenarios:
            fail(f"--scenario: unknown scenario {sid!r} (see `synthconv scenarios`)")
    for pid in personas:
        if pid not in library.personas:
            fail(f"--persona: unknown persona {pid!r} (see `synthconv personas`)")
    chosen = {k: v for k, v in library.scenarios.items() if not scenarios or k in scenarios}
    if personas:
        kept = {}
        for sid, sc in chosen.items():
            roles = {}
            for key, role in sc.roles.items():
                pool = [p for p in role.personas if p in personas] or role.personas
                roles[key] = role.model_copy(update={"personas": pool})
            kept[sid] = sc.model_copy(update={"roles": roles})
        chosen = kept
    return Library(scenarios=chosen, personas=library.personas)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        fail(f"--out: {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        fail(f"--out: {out} is not empty; choose a new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        fail(f"--out: cannot write to {out} ({e.strerror})")


@app.command()
def generate(
    count: int = typer.Option(10, "--count", "-n", help="How many conversations to plan."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder [default: output/<timestamp>]."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same plan, same conversations."),
    concurrency: int = typer.Option(os.cpu_count() or 1, "--concurrency", "-j",
                                    help="Conversations at once (worker processes)."),
    engine: str = typer.Option("offline", "--engine", help="offline"),
    transport: str = typer.Option("local", "--transport", help="local"),
    scenario: list[str] = typer.Option([], "--scenario", help="Only these scenario ids (repeatable)."),
    persona: list[str] = typer.Option([], "--persona", help="Prefer these persona ids (repeatable)."),
    job_timeout: float = typer.Option(300.0, "--job-timeout", help="Seconds one conversation may take."),
    scenarios_dir: Path = ScenariosDir,
    personas_dir: Path = PersonasDir,
) -> None:
    """Plan COUNT scenario x persona jobs and generate a conversation for each."""
    from .engine import ENGINES, EngineError, make_engine
    from .job import plan
    from .run import execute
    from .transport import TRANSPORTS

    if count < 1:
        fail(f"--count must be at least 1 (got {count})")
    if concurrency < 1:
        fail(f"--concurrency must be at least 1 (got {concurrency})")
    if engine not in ENGINES:
        fail(f"--engine: unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if transport not in TRANSPORTS:
        fail(f"--transport: unknown transport {transport!r} (choose from {', '.join(TRANSPORTS)})")
    library = _restrict(_library(scenarios_dir, personas_dir), scenario, persona)
    jobs = plan(library, count, seed)
    try:
        used = sorted({p for j in jobs for p in j.roles.values()})
        make_engine(engine).check([library.personas[p] for p in used])
    except EngineError as e:
        fail(str(e))
    out = out or Path("output") / datetime.now().strftime("%Y%m%d-%H%M%S")
    _check_out(out)

    flags = {"count": count, "out": str(out), "seed": seed, "concurrency": concurrency,
             "engine": engine, "transport": transport, "scenario": scenario, "persona": persona,
             "job_timeout": job_timeout, "scenarios_dir": str(scenarios_dir),
             "personas_dir": str(personas_dir)}
    run_info = {"flags": flags, "seed": seed, "count": count}

    progress = _Progress(len(jobs))
    t0 = time.monotonic()
    results = execute(out, jobs, run_info, scenarios_dir=scenarios_dir, personas_dir=personas_dir,
                      engine=engine, transport=transport, concurrency=concurrency,
                      job_timeout=job_timeout, on_start=progress.start, on_result=progress.update)
    progress.stop()
    _summary(out, jobs, results, time.monotonic() - t0)
    if any(r["status"] != "ok" for r in results.values()) or len(results) < len(jobs):
        raise typer.Exit(1)


class _Progress:
    """A rich progress bar on a terminal; plain lines otherwise (CI logs)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.bar = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("{task.description}"), console=console)
            self.task = self.bar.add_task("", total=total)

    def start(self) -> None:
        if self.bar:
            self.bar.start()
        else:
            console.print(f"generating {self.total} conversations", highlight=False)

    def update(self, r: dict) -> None:
        self.done += 1
        status = "ok" if r["status"] == "ok" else f"FAILED {r['error']}"
        line = f"[{self.done}/{self.total}] {r['id']} {status}"
        if self.bar:
            self.bar.console.print(line, highlight=False, markup=False)
            self.bar.update(self.task, advance=1, description=r["id"])
        else:
            console.print(line, highlight=False, markup=False)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


def _summary(out: Path, jobs: list, results: dict[str, dict], wall: float) -> None:
    ok = [r for r in results.values() if r["status"] == "ok"]
    audio = sum(r["duration_s"] or 0 for r in ok)
    table = Table(title=f"run {out}")
    for col in ("scenario", "ok", "failed", "audio s", "turns"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    by: dict[str, list[dict]] = {}
    for j in jobs:
        by.setdefault(j.scenario, []).append(results.get(j.id, {"status": "failed"}))
    for sid, rs in sorted(by.items()):
        oks = [r for r in rs if r["status"] == "ok"]
        table.add_row(sid, str(len(oks)), str(len(rs) - len(oks)),
                      f"{sum(r['duration_s'] for r in oks):.1f}", str(sum(r["turns"] for r in oks)))
    console.print(table)
    console.print(f"{len(ok)}/{len(jobs)} ok, {audio:.1f} s of audio in {wall:.1f} s "
                  f"({audio / wall if wall else 0:.1f}x real time)", highlight=False)
    for r in results.values():
        if r["status"] != "ok":
            console.print(f"failed {r['id']}: {r['error']}", highlight=False, markup=False)


@app.command()
def scenarios(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the scenario library."""
    lib = _library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.scenarios)} scenarios (all valid)")
    for col in ("id", "domain", "lang", "roles", "beats", "turns", "title"):
        table.add_column(col)
    for sc in lib.scenarios.values():
        table.add_row(sc.id, sc.domain, sc.language, " / ".join(sc.role_keys), str(len(sc.script)),
                      f"{sc.turns.min}-{sc.turns.max}", sc.title)
    console.print(table)


@app.command()
def personas(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the persona library."""
    lib = _library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.personas)} personas (all valid)")
    for col in ("id", "name", "roles", "locale", "offline voice", "style"):
        table.add_column(col)
    for p in lib.personas.values():
        s = p.style
        table.add_row(p.id, p.name, ",".join(p.roles), p.locale, p.voice.offline.voice,
                      f"{s.mood}, {s.verbosity}, {s.pace}, fillers {s.fillers}, politeness {s.politeness}")
    console.print(table)


def main() -> None:
    app(prog_name="synthconv")


if __name__ == "__main__":
    sys.exit(main())
