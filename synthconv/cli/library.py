"""`synthconv scenarios` and `synthconv personas`: list the library, and fail on any bad file."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from .common import PersonasDir, ScenariosDir, app, console, library


@app.command()
def scenarios(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the scenario library."""
    lib = library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.scenarios)} scenarios (all valid)")
    for col in ("id", "domain", "lang", "roles", "beats", "branches", "turns", "title"):
        table.add_column(col)
    for sc in lib.scenarios.values():
        table.add_row(sc.id, escape(sc.domain), escape(sc.language), " / ".join(sc.role_keys), str(len(sc.script)),
                      str(len(sc.branches)), f"{sc.turns.min}-{sc.turns.max}", escape(sc.title))
    console.print(table)


@app.command()
def personas(scenarios_dir: Path = ScenariosDir, personas_dir: Path = PersonasDir) -> None:
    """List and validate the persona library."""
    lib = library(scenarios_dir, personas_dir)
    table = Table(title=f"{len(lib.personas)} personas (all valid)")
    for col in ("id", "name", "roles", "locale", "offline voice", "style"):
        table.add_column(col)
    for p in lib.personas.values():
        s = p.style
        table.add_row(p.id, escape(p.name), ",".join(p.roles), escape(p.locale), escape(p.voice.offline.voice),
                      f"{s.mood}, {s.verbosity}, {s.pace}, fillers {s.fillers}, politeness {s.politeness}")
    console.print(table)
