"""`synthconv inspect`: summarize a run, validate it against docs/FORMAT.md, or show one conversation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .common import app, console, fail


@app.command()
def inspect(
    run: Path = typer.Argument(..., help="A run folder."),
    conversation: Optional[str] = typer.Argument(None, help="One conversation id: print its timed transcript."),
    validate: bool = typer.Option(False, "--validate", help="Check every conversation against docs/FORMAT.md."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Summarize a run (complete, running or interrupted), validate it, or show one conversation."""
    from ..errors import RunFolderError
    from ..inspect import read_run, summarize, validate_run

    try:
        view = read_run(run)
    except RunFolderError as e:
        if as_json:  # the nightly recipe stores this output: it is JSON whatever happened
            print(json.dumps({"run": str(run), "state": "unreadable", "problems": {"run": [str(e)]}},
                             indent=2, ensure_ascii=False))
        fail(str(e))
    if conversation is not None:
        _show_conversation(run, view, conversation, validate, as_json)
        return
    summary = summarize(view)
    problems = validate_run(view) if validate else {}
    if validate:
        summary["problems"] = problems
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_summary(summary)
        if validate:
            for cid, found in problems.items():
                for p in found:
                    console.print(f"{cid}: {p}", highlight=False, markup=False)
            checked = summary["by_status"].get("ok", 0)
            console.print(f"validated {checked} conversations: "
                          + (f"{len(problems)} with problems" if problems else "all valid"), highlight=False)
    if problems:
        raise typer.Exit(1)


def _show_conversation(run: Path, view: dict, cid: str, validate: bool, as_json: bool) -> None:
    import jsonlines

    from ..inspect import validate_conversation
    from ..runfolder import read_meta, read_transcript

    row = next((r for r in view["conversations"] if r["id"] == cid), None)
    if row is None:
        fail(f"{run}: no conversation {cid!r} in this run")
    folder = run / "conversations" / cid
    try:
        turns = read_transcript(folder)
    except (OSError, jsonlines.InvalidLineError) as e:
        fail(f"{folder / 'transcript.jsonl'}: damaged ({e}); see `synthconv inspect {run} --validate`")
    problems = validate_conversation(folder) if validate and row["status"] == "ok" else []
    meta = read_meta(folder)
    heard = {k: meta.get(k) for k in ("hearing", "hearing_note", "wer") if k in meta} if isinstance(meta, dict) else {}
    if as_json:
        print(json.dumps({**row, **heard, "transcript": turns, **({"problems": problems} if validate else {})},
                         indent=2, ensure_ascii=False))
    else:
        console.print(f"[bold]{cid}[/] {escape(str(row['status']))} {row['scenario']} "
                      + ", ".join(f"{k}={v}" for k, v in row["roles"].items()), highlight=False)
        if row.get("error"):
            console.print(f"error: {row['error']}", highlight=False, markup=False)
        if heard:
            hearing = ", ".join(f"{k} {v}" for k, v in (heard.get("hearing") or {}).items())
            console.print(f"hearing: {hearing or 'the engine STT'}; mean WER {_wer(heard.get('wer'))}"
                          + (f" ({heard['hearing_note']})" if heard.get("hearing_note") else ""),
                          highlight=False, markup=False)
        for t in turns:
            mark = "" if t.get("heard") in (t["text"], None) else (
                f"   (heard: {t['heard']}" + (f"; WER {_wer(t['wer'])})" if t.get("wer") is not None else ")"))
            console.print(f"\\[{t['start']:7.2f} → {t['end']:7.2f}] [bold]{escape(str(t['speaker']))}[/] "
                          f"({escape(str(t['role']))}): {escape(str(t['text']) + mark)}", highlight=False)
        for p in problems:
            console.print(f"{cid}: {p}", highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)


def _print_summary(s: dict) -> None:
    console.print(f"[bold]{escape(s['run'])}[/]: {escape(s['state'])}; {s['planned']} planned, "
                  + ", ".join(f"{n} {k}" for k, n in sorted(s["by_status"].items())), highlight=False)
    d, t = s["duration_s"], s["turns"]
    if d["mean"] is not None:
        console.print(f"audio {d['total']:.1f} s (mean {d['mean']:.1f} s), turns {t['total']} (mean {t['mean']})",
                      highlight=False)
    w = s.get("wer") or {}
    if w.get("mean") is not None:
        console.print(f"heard: mean WER {_wer(w['mean'])} over {w['conversations']} conversations (per conversation: "
                      f"min {_wer(w['min'])}, median {_wer(w['median'])}, max {_wer(w['max'])})", highlight=False)
    for title, key in (("by scenario", "by_scenario"), ("by persona", "by_persona")):
        table = Table(title=title)
        for col in (title.split()[-1], "ok", "failed", "pending"):
            table.add_column(col, justify="left" if col in ("scenario", "persona") else "right")
        for name, c in sorted(s[key].items()):
            table.add_row(name, str(c.get("ok", 0)), str(c.get("failed", 0)), str(c.get("pending", 0)))
        console.print(table)
    for f in s["failures"]:
        console.print(f"failed {f['id']}: {f['error']}", highlight=False, markup=False)


def _wer(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "n/a"
