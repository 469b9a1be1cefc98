"""Dataset statistics of a run, and `inspect --report DIR`: PNG plots and a Markdown report.

The figures come from the transcripts of the complete conversations: durations, turns, words,
the gaps at each change of speaker (next turn's start minus previous end; negative is overlap), counts per scenario
and persona, and diversity (diversity.py). Plots use matplotlib's Agg backend (no display).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .diversity import wording, words
from .runfolder import conversation_dir, read_transcript


def figures(view: dict) -> dict:
    """The run's statistics from runfolder.view.read_run's view; transcripts that cannot be read are
    counted under `unreadable` and left out."""
    run = Path(view["run"])
    ok = [r for r in view["conversations"] if r["status"] == "ok"]
    texts: dict[str, list[str]] = {}
    durations, turn_counts, turn_words, gaps, unreadable = [], [], [], [], 0
    scenarios: dict[str, int] = {}
    personas: dict[str, int] = {}
    for r in ok:
        try:
            turns = [t.to_dict() for t in read_transcript(conversation_dir(run, r["id"])) if t.kind == "turn"]
        except Exception:  # noqa: BLE001 - damage is inspect --validate's to report
            unreadable += 1
            continue
        texts[r["id"]] = [str(t["text"]) for t in turns]
        durations.append(float(r["duration_s"] or 0))
        turn_counts.append(len(turns))
        turn_words += [len(words(str(t["text"]))) for t in turns]
        turns = sorted(turns, key=lambda t: t["start"])
        gaps += [round(float(b["start"]) - float(a["end"]), 3) for a, b in zip(turns, turns[1:])
                 if a["role"] != b["role"]]  # floor transfers; backchannels are not turns
        scenarios[r["scenario"]] = scenarios.get(r["scenario"], 0) + 1
        for p in r["roles"].values():
            personas[p] = personas.get(p, 0) + 1
    g = np.array(gaps)
    return {
        "conversations": len(texts), "unreadable": unreadable,
        "durations_s": durations, "turns_per_conversation": turn_counts, "words_per_turn": turn_words,
        "gaps_s": gaps, "by_scenario": scenarios, "by_persona": personas,
        "headline": {
            "conversations": len(texts), "hours": round(sum(durations) / 3600, 3),
            "turns": sum(turn_counts), "words": sum(turn_words),
            "mean_words_per_turn": round(float(np.mean(turn_words)), 2) if turn_words else None,
            "median_gap_s": round(float(np.median(g)), 3) if len(g) else None,
            "overlap_share": round(float(np.mean(g < 0)), 4) if len(g) else None,
            **wording(texts),
        },
    }


def _plots(fig: dict, out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    made = []

    def save(name: str, title: str, draw, height: float = 4.5) -> None:  # noqa: ANN001 - draws on a figure
        f = plt.figure(figsize=(8, height), dpi=100)
        draw(f)
        f.suptitle(title)
        f.tight_layout()
        f.savefig(out / name, format="png")
        plt.close(f)
        made.append((name, title))

    def hist(ax, values, xlabel: str, bins=20) -> None:  # noqa: ANN001
        ax.hist(values, bins=bins, color="#4878a8", edgecolor="white")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")

    save("durations.png", "Conversation durations",
         lambda f: hist(f.add_subplot(), fig["durations_s"], "seconds"))

    def turns_words(f) -> None:  # noqa: ANN001
        hist(f.add_subplot(1, 2, 1), fig["turns_per_conversation"], "turns per conversation")
        hist(f.add_subplot(1, 2, 2), fig["words_per_turn"], "words per turn")
    save("turns_words.png", "Turns and words", turns_words)

    def gaps(f) -> None:  # noqa: ANN001
        ax = f.add_subplot()
        hist(ax, fig["gaps_s"], "next turn start - previous turn end (s); negative = overlap", bins=40)
        ax.axvline(0, color="#c44e52", linewidth=1)
    save("gaps.png", "Gaps and overlaps between turns", gaps)

    def counts(f) -> None:  # noqa: ANN001
        for i, key in enumerate(("by_scenario", "by_persona")):
            ax = f.add_subplot(1, 2, i + 1)
            items = sorted(fig[key].items(), key=lambda kv: kv[1])
            ax.barh([k for k, _ in items], [v for _, v in items], color="#55a868")
            ax.set_xlabel(f"conversations {key.replace('_', ' ')}")
            ax.tick_params(axis="y", labelsize=7)
    save("counts.png", "Conversations per scenario and persona", counts,
         height=max(4.5, 0.16 * max(len(fig["by_scenario"]), len(fig["by_persona"]))))
    return made


def _timing_table(view: dict) -> list[str]:
    """The run's cumulated IPU, pause, gap and overlap per minute next to real telephone calls
    (dGSLM's and Moshi's measures; labels.timing_per_minute)."""
    from .runfolder.labels import FISHER_PER_MIN, run_figures

    ok = [r["id"] for r in view["conversations"] if r["status"] == "ok"]
    tt = run_figures(Path(view["run"]), ok) if ok else None
    per_min = (tt or {}).get("timing_per_min")
    if not per_min or tt is None:
        return []
    names = {"ipu": "IPU (speech)", "pause": "pause (same speaker)", "gap": "gap (between speakers)",
             "overlap": "overlap (both speak)"}
    out = ["## Turn-taking timing", "",
           "Seconds per minute of conversation, from the tracks with an energy VAD, IPUs split at 0.2 s of "
           "silence; Fisher is two-channel telephone English as the Moshi paper reports it (Table 9).", "",
           "| per minute | this run (s) | Fisher (s) | this run / Fisher |", "|---|---|---|---|"]
    out += [f"| {names[k]} | {per_min[k]:.1f} | {ref:g} | {per_min[k] / ref:.2f} |" for k, ref in FISHER_PER_MIN.items()]
    fto = tt["floor_transfer_offset_s"]
    out += ["", f"Floor-transfer offsets p10/p50/p90 {fto['p10']:.2f}/{fto['p50']:.2f}/{fto['p90']:.2f} s, mode "
            f"{fto['mode']:.1f} s, {fto['overlapped']:.0%} of speaker changes in overlap; "
            f"{tt['backchannels_per_min']:.1f} backchannels per minute; {tt['interrupted_turns']:.0%} of turns "
            "interrupted.", ""]
    return out


def _fmt(v: object) -> str:
    return "not measured" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def write_report(view: dict, out: Path) -> Path:
    """out/*.png and out/report.md (which shows them); returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    fig = figures(view)
    plots = _plots(fig, out)
    h = fig["headline"]
    rows = [("conversations", h["conversations"]), ("hours of audio", h["hours"]), ("turns", h["turns"]),
            ("words", h["words"]), ("mean words per turn", h["mean_words_per_turn"]),
            ("median gap between turns (s)", h["median_gap_s"]), ("share of turn changes that overlap", h["overlap_share"]),
            ("distinct 2-grams / all 2-grams", h["distinct_2"]), ("distinct 3-grams / all 3-grams", h["distinct_3"]),
            ("utterances repeated verbatim in another conversation", h["repeated_utterance_share"]),
            (f"near-duplicate conversation pairs (3-gram Jaccard >= {h['near_duplicate_threshold']})",
             h["near_duplicate_pairs"])]
    lines = [f"# Run report: {Path(view['run']).name}", "", f"State: {view['state']}. "
             f"Figures over the {h['conversations']} complete conversations"
             + (f" ({fig['unreadable']} with an unreadable transcript left out)" if fig["unreadable"] else "") + ".",
             "", "| figure | value |", "|---|---|", *[f"| {k} | {_fmt(v)} |" for k, v in rows], ""]
    if h["near_duplicates"]:
        lines += ["Most similar pairs: " + "; ".join(f"{a} / {b} ({s})" for a, b, s in h["near_duplicates"][:5]), ""]
    lines += _timing_table(view)
    for name, title in plots:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    lines += ["## Counts", "", "| scenario | conversations |", "|---|---|",
              *[f"| {k} | {v} |" for k, v in sorted(fig["by_scenario"].items())], "",
              "| persona | conversations |", "|---|---|",
              *[f"| {k} | {v} |" for k, v in sorted(fig["by_persona"].items())], ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


__all__ = ["figures", "write_report"]
