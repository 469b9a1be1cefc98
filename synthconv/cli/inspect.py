"""`synthconv inspect`: summarize a run, validate it against docs/FORMAT.md, or show one conversation."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from .common import app, console, fail, print_json


@app.command()
def inspect(  # noqa: C901
    run: Path = typer.Argument(..., help="A run folder."),
    conversation: str | None = typer.Argument(None, help="One conversation id: print its timed transcript."),
    validate: bool = typer.Option(False, "--validate", help="Check every conversation against docs/FORMAT.md."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    report: Path | None = typer.Option(None, "--report", help="Write PNG plots and report.md into this folder."),
    diversity: bool = typer.Option(False, "--diversity", help="How varied the complete conversations are: "
                                   "repeated lines, distinct 2/3-grams, speakers, a speaker-disjoint 80/10/10 split."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML: a test case per conversation "
                                         "and per expectation of an agent under test; exit 1 if any failed."),
) -> None:
    """Summarize a run (complete, running or interrupted), validate it, or show one conversation.

    Exits 1 when --validate finds a problem, an expectation of an agent under test failed, or
    (with --junit) any test case failed."""
    from ..errors import RunFolderError
    from ..runfolder.validate import validate_run
    from ..runfolder.view import read_run
    from ..summary import summarize

    try:
        view = read_run(run)
    except RunFolderError as e:
        if as_json:  # the nightly recipe stores this output: it is JSON whatever happened
            print_json({"run": str(run), "state": "unreadable", "problems": {"run": [str(e)]}})
        fail(str(e))
    if conversation is not None:
        _show_conversation(run, view, conversation, validate, as_json)
        return
    summary = summarize(view)
    from ..report import figures

    summary["figures"] = figures(view)["headline"]
    problems = validate_run(view) if validate else {}
    if validate:
        summary["problems"] = problems
    if diversity:
        from ..diversity import figures as diversity_figures
        from ..diversity import run_samples

        summary["diversity"] = diversity_figures(run_samples(run))
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
        _print_figures(summary["figures"])
        if diversity:
            from ..diversity import format_figures

            for line in format_figures(summary["diversity"]):
                console.print(line, highlight=False, markup=False)
        if validate:
            for cid, found in problems.items():
                for p in found:
                    console.print(f"{cid}: {p}", highlight=False, markup=False)
            checked = summary["by_status"].get("ok", 0)
            console.print(f"validated {checked} conversations: "
                          + (f"{len(problems)} with problems" if problems else "all valid"), highlight=False)
    if report is not None:
        _write_report(view, report, quiet=as_json)
    failed_cases = _write_junit(view, junit, quiet=as_json) if junit is not None else 0
    checks_failed = any(a["checks"]["fail"] for a in (summary.get("agent_under_test") or {}).values())
    if problems or failed_cases or checks_failed:
        raise typer.Exit(1)


def _write_junit(view: dict, out: Path, quiet: bool) -> int:
    """RUN as JUnit XML in `out`; the number of failed test cases."""
    from ..under_test.runs import junit

    xml, failures = junit(view)
    try:
        out.write_text(xml, encoding="utf-8")
    except OSError as e:
        fail(f"--junit: cannot write {out} ({e.strerror})")
    if not quiet:
        console.print(f"junit: {out} ({xml.count('<testcase ')} test cases, {failures} failed)",
                      highlight=False, markup=False)
    return failures


def _write_report(view: dict, out: Path, quiet: bool) -> None:
    from ..report import write_report

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        fail("--report needs matplotlib: pip install 'synthconv[report]'")
    if out.exists() and not out.is_dir():
        fail(f"--report: {out} is a file, not a folder")
    try:
        path = write_report(view, out)
    except OSError as e:
        fail(f"--report: cannot write to {out} ({e.strerror})")
    if not quiet:
        console.print(f"report: {path}", highlight=False, markup=False)


def _print_figures(f: dict) -> None:
    if not f["conversations"]:
        return
    console.print(f"words {f['words']} (mean {f['mean_words_per_turn']} per turn); gaps between turns: median "
                  f"{f['median_gap_s']} s, {f['overlap_share']:.1%} overlapping", highlight=False, markup=False)
    near = "not measured" if f["near_duplicate_pairs"] is None else f["near_duplicate_pairs"]
    console.print(f"diversity: distinct 2-grams {f['distinct_2']}, 3-grams {f['distinct_3']}; "
                  f"{f['repeated_utterance_share']:.1%} of utterances repeated verbatim across conversations; "
                  f"near-duplicate conversation pairs {near}", highlight=False, markup=False)


def _show_conversation(run: Path, view: dict, cid: str, validate: bool, as_json: bool) -> None:  # noqa: C901
    from ..runfolder import SchemaError, read_meta, read_transcript
    from ..runfolder.validate import validate_conversation

    row = next((r for r in view["conversations"] if r["id"] == cid), None)
    if row is None:
        fail(f"{run}: no conversation {cid!r} in this run")
    folder = run / "conversations" / cid
    try:
        turns = [t.to_dict() for t in read_transcript(folder)]
    except (OSError, SchemaError) as e:
        fail(f"{folder / 'transcript.jsonl'}: damaged ({e}); see `synthconv inspect {run} --validate`")
    problems = validate_conversation(folder) if validate and row["status"] == "ok" else []
    meta = read_meta(folder)
    heard = {k: meta.get(k) for k in ("hearing", "hearing_note", "wer") if k in meta} if isinstance(meta, dict) else {}
    under_test = meta.get("agent_under_test") if isinstance(meta, dict) else None
    if as_json:
        print_json({**row, **heard, **({"agent_under_test": under_test} if under_test else {}), "transcript": turns,
                    **({"problems": problems} if validate else {})})
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
            if t.get("interrupted"):
                mark = f" —   (cut off; meant: {t.get('intended')}){mark}"
            who = "  backchannel" if t.get("kind") == "backchannel" else ""
            console.print(f"\\[{t['start']:7.2f} → {t['end']:7.2f}] [bold]{escape(str(t['speaker']))}[/] "
                          f"({escape(str(t['role']))}{who}): {escape(str(t['text']) + mark)}", highlight=False)
        meta = read_meta(folder)
        if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
            console.print(_labels_line(meta["labels"]), highlight=False, markup=False)
        if isinstance(under_test, dict):
            for line in _call_lines(under_test):
                console.print(line, highlight=False, markup=False)
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
    if s.get("turn_taking"):
        console.print(_labels_line(s["turn_taking"]), highlight=False, markup=False)
    for name, a in (s.get("agent_under_test") or {}).items():
        for line in _agent_lines(name, a):
            console.print(line, highlight=False, markup=False)
    for f in s["failures"]:
        console.print(f"failed {f['id']}: {f['error']}", highlight=False, markup=False)


def _seconds(v: object) -> str:
    return f"{v:.3f} s" if isinstance(v, (int, float)) else "not measured"


def _agent_lines(name: str, a: dict) -> list[str]:
    """An agent under test over the run: its figures, its checks, each failed check."""
    c = a["checks"]
    lines = [f"agent under test {name}: {a['calls']} calls; response latency p50 {_seconds(a['latency_p50_s'])}, "
             f"p95 {_seconds(a['latency_p95_s'])} over {a['replies']} replies; barge-ins {a['barge_ins']}: "
             f"{a['yielded']} yielded (p50 {_seconds(a['yield_p50_s'])}, max {_seconds(a['yield_max_s'])}), "
             f"{a['never_yielded']} never; talked over the caller {a['talk_over']} times; "
             f"{a['long_silences']} long silences; talk ratio {a['talk_ratio'] if a['talk_ratio'] is not None else 'n/a'}; "
             f"heard the caller with WER {_wer(a['heard_wer'])}",
             f"checks: {c['pass']} passed, {c['fail']} failed, {c['not measured']} not measured"]
    lines += [f"FAILED {f['id']} {f['check']}: {f['evidence']}" for f in a["failed_checks"]]
    return lines


def _call_lines(a: dict) -> list[str]:
    """One call with an agent under test: its replies, barge-ins and checks."""
    lat = ", ".join(f"{x:.2f}" for x in a.get("response_latency_s") or []) or "none"
    yields = ", ".join("never" if y is None else f"{y:.2f}" for y in a.get("yield_s") or []) or "no barge-in"
    ending = a.get("ending") or {}
    lines = [f"agent under test {a.get('agent_name')} ({a.get('role')}): ended by {ending.get('by')} "
             f"({ending.get('reason')}); response latency {lat} s (p50 {_seconds(a.get('latency_p50_s'))}, "
             f"p95 {_seconds(a.get('latency_p95_s'))}); yield {yields}; talked over {len(a.get('talk_over') or [])}; "
             f"long silences {len(a.get('long_silences') or [])}; talk ratio {a.get('talk_ratio')}; "
             f"heard the caller with WER {_wer(a.get('heard_wer'))}"]
    lines += [f"{c['status'].upper():>12}  {c['name']}: {c['evidence']}" for c in a.get("checks") or []]
    return lines


def _labels_line(labels: dict) -> str:
    """Turn-taking figures in one line (a conversation's meta.json labels, or a run's)."""
    from ..runfolder.labels import FISHER_PER_MIN

    fto = labels.get("floor_transfer_offset_s") or {}
    parts = []
    if fto:
        parts.append(f"floor transfer p10/p50/p90 {fto['p10']:.2f}/{fto['p50']:.2f}/{fto['p90']:.2f} s, "
                     f"mode {fto['mode']:.1f} s, {fto['overlapped']:.0%} of changes in overlap")
    parts.append(f"overlap ratio {labels.get('overlap_ratio', 0):.3f}")
    parts.append(f"{labels.get('backchannels_per_min') or 0:.1f} backchannels/min")
    if "interrupted_turns" in labels:
        parts.append(f"{labels['interrupted_turns']:.0%} of turns interrupted")
    if labels.get("timing_per_min"):
        t = labels["timing_per_min"]
        parts.append("per minute IPU/pause/gap/overlap " + "/".join(f"{t[k]:.1f}" for k in FISHER_PER_MIN)
                     + " s (Fisher " + "/".join(f"{v:g}" for v in FISHER_PER_MIN.values()) + ")")
    if labels.get("speaking_share"):
        parts.append("speaking " + ", ".join(f"{r} {v:.0%}" for r, v in labels["speaking_share"].items()))
    return "turn-taking: " + "; ".join(parts)


def _wer(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "n/a"
