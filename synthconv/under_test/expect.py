"""A scenario's expectations of the agent under test (scenario.Expect), checked on one call.

Each check is `pass`, `fail` or `not measured` (never assumed: a latency limit in a call with
no reply, a yield limit in a call where the caller never cut in), with one line of evidence
naming the turn and the time. "Asked for" reads the agent's turns with the same dialogue act the
caller answers by (engine/offline/acts.py asks_about), so a check and the caller agree on what
was asked.
"""

from __future__ import annotations

import re

from ..engine.offline.acts import asks_about
from ..recording import normalize
from ..runfolder.schema import AgentCheck as Check
from ..scenario import Expect, SayPattern
from .measure import Measures, percentile

PASS, FAIL, NOT_MEASURED = "pass", "fail", "not measured"


def _quote(text: str, at: int = 0, limit: int = 80) -> str:
    """`text` as evidence: whole when short, else the `limit` characters around position `at`."""
    if len(text) <= limit:
        return repr(text)
    start = max(0, min(at - limit // 2, len(text) - limit))
    return repr(("…" if start else "") + text[start: start + limit] + ("…" if start + limit < len(text) else ""))


def _where(t: dict) -> str:
    return f"turn {t['turn']} at {t['start']:.2f} s"


def check(expect: Expect, turns: list[dict], measures: Measures, agent: str) -> list[Check]:
    """Every expectation of `expect` on one call: `turns` are its transcript lines, `agent` the
    role under test."""
    said = [t for t in turns if t["role"] == agent and t.get("kind", "turn") == "turn" and t.get("text")]
    checks = []
    for item in expect.say:
        checks.append(_say(item, said))
    for key in expect.ask_for:
        asked = next((t for t in said if asks_about(t["text"], key)), None)
        name = f"ask_for: {key}"
        if asked is not None:
            checks.append(Check(name, PASS, f"{_where(asked)}: {_quote(asked['text'])}", asked["turn"], asked["start"]))
        elif not said:
            checks.append(Check(name, NOT_MEASURED, "no transcript of the agent's speech"))
        else:
            checks.append(Check(name, FAIL, f"the agent never asked for it in its {len(said)} turns"))
    if expect.max_p95_latency_s is not None:
        checks.append(_latency(expect.max_p95_latency_s, measures))
    if expect.max_yield_s is not None:
        checks.append(_yield(expect.max_yield_s, measures))
    return checks


def _say(item: str | SayPattern, said: list[dict]) -> Check:
    if isinstance(item, SayPattern):
        name, pattern = f"say: {item.label}", re.compile(item.pattern, re.I)
    else:  # a phrase: its words in a row, case, punctuation and digit grouping aside
        name = f"say: {item}"
        pattern = re.compile(r"\b" + r"\W+".join(map(re.escape, normalize(item).split())) + r"\b", re.I)
    if not said:
        return Check(name, NOT_MEASURED, "no transcript of the agent's speech")
    for t in said:
        m = pattern.search(t["text"]) or pattern.search(normalize(t["text"]))
        if m:
            at = m.start() if pattern.search(t["text"]) else 0
            return Check(name, PASS, f"{_where(t)}: {_quote(t['text'], at)}", t["turn"], t["start"])
    return Check(name, FAIL, f"not said in the agent's {len(said)} turns")


def _latency(limit: float, m: Measures) -> Check:
    name = "max_p95_latency_s"
    p95 = percentile(m.latencies, 95)
    if p95 is None:  # no replies, so no latencies
        return Check(name, NOT_MEASURED, "the agent never replied after the caller spoke")
    slowest = max(m.replies, key=lambda r: r["latency_s"])
    line = (f"p95 {p95:.3f} s over {len(m.replies)} replies (limit {limit:g} s); slowest turn {slowest['turn']} "
            f"at {slowest['at']:.2f} s: {slowest['latency_s']:.3f} s")
    return Check(name, PASS if p95 <= limit else FAIL, line, slowest["turn"], slowest["at"])


def _yield(limit: float, m: Measures) -> Check:
    name = "max_yield_s"
    if not m.barge_ins:
        return Check(name, NOT_MEASURED, "the caller never cut in on the agent")
    kept = next((b for b in m.barge_ins if b["yield_s"] is None), None)
    if kept is not None:
        return Check(name, FAIL, f"caller's turn {kept['turn']} at {kept['at']:.2f} s: the agent kept talking "
                     "through it (never yielded)", kept["turn"], kept["at"])
    worst = max(m.barge_ins, key=lambda b: b["yield_s"])
    line = (f"longest yield {worst['yield_s']:.3f} s after the caller's turn {worst['turn']} at {worst['at']:.2f} s "
            f"({len(m.barge_ins)} barge-ins, limit {limit:g} s)")
    return Check(name, PASS if worst["yield_s"] <= limit else FAIL, line, worst["turn"], worst["at"])
