"""A run's summary (`inspect RUN`, `inspect --json`, the serve API): counts by status, scenario
and persona, durations, turns, word error rates, the turn-taking figures and, for calls with an
agent under test, its figures and checks (under_test/runs.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .runfolder import labels


def summarize(view: dict) -> dict:
    rows = view["conversations"]
    ok = [r for r in rows if r["status"] == "ok"]
    by_status: dict[str, int] = {}
    by_scenario: dict[str, dict[str, int]] = {}
    by_persona: dict[str, dict[str, int]] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        s = by_scenario.setdefault(r["scenario"], {"ok": 0, "failed": 0, "pending": 0})
        s[r["status"]] = s.get(r["status"], 0) + 1
        for persona in r["roles"].values():
            p = by_persona.setdefault(persona, {"ok": 0, "failed": 0, "pending": 0})
            p[r["status"]] = p.get(r["status"], 0) + 1
    total = sum(r["duration_s"] or 0 for r in ok)
    turns = sum(r["turns"] or 0 for r in ok)
    from .under_test.runs import summary as agents

    out = {
        "run": view["run"], "state": view["state"], "planned": len(rows), "by_status": by_status,
        "by_scenario": by_scenario, "by_persona": by_persona,
        "duration_s": {"total": round(total, 3), "mean": round(total / len(ok), 3) if ok else None},
        "turns": {"total": turns, "mean": round(turns / len(ok), 2) if ok else None},
        "wer": _spread([w for r in ok if (w := view.get("wer", {}).get(r["id"])) is not None]),
        "failures": [{"id": r["id"], "error": r["error"]} for r in rows if r["status"] == "failed"],
        "turn_taking": labels.run_figures(Path(view["run"]), [r["id"] for r in ok]),
    }
    under_test = agents(view)
    if under_test is not None:  # calls with somebody else's agent on the line
        out["agent_under_test"] = under_test
    return out


def _spread(values: list[float]) -> dict:
    """Mean, extremes and quartiles of the conversations' mean word error rates (meta.json `wer`)."""
    if not values:
        return {"conversations": 0, "mean": None}
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return {"conversations": len(values), "mean": round(float(np.mean(values)), 4),
            "min": round(min(values), 4), "p25": round(float(q[0]), 4), "median": round(float(q[1]), 4),
            "p75": round(float(q[2]), 4), "max": round(max(values), 4)}
