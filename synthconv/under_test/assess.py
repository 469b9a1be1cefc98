"""meta.json `agent_under_test` of one call: the measures, what the agent heard, the checks."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from ..recording import word_error_rate
from ..runfolder.schema import AgentUnderTest
from .expect import check
from .measure import measure

if TYPE_CHECKING:
    from ..job import ResolvedJob
    from ..recording import Recording


def assess(played: ResolvedJob, rec: Recording, transit: dict[int, float] | None = None, **notes: object) -> dict:
    """How the agent under test did in `rec`, as meta.json keeps it (docs/FORMAT.md): its role and
    name, the caller's role, the measures (measure.py; `transit`: caller turn -> seconds its sound
    took to reach the observer), `heard_wer` (the mean word error rate of
    the agent's transcript of each caller line, null when it published none), the checks of the
    scenario's expectations and whether all passed; `notes` add what the transport knows (the
    ending, the agent's identity)."""
    ut = played.under_test
    assert ut is not None and ut.agent_name
    caller = played.peer(ut.role)
    turns = [asdict(t) for t in rec.turns]
    m = measure(turns, rec.tracks, rec.sample_rate, ut.role, caller, transit)
    heard = [{"turn": t.turn, "wer": wer} for t in rec.turns
             if t.role == caller and t.kind == "turn" and (wer := word_error_rate(t.text, t.heard)) is not None]
    checks = check(ut.expect, turns, m, ut.role)
    record = {"role": ut.role, "agent_name": ut.agent_name, "caller": caller, **notes, **m.to_dict(),
              "heard_wer": round(sum(h["wer"] for h in heard) / len(heard), 4) if heard else None,
              "heard_wer_turns": heard, "checks": [c.to_dict() for c in checks],
              "passed": all(c.status != "fail" for c in checks)}
    AgentUnderTest.from_dict(record)  # a record the readers cannot read is never written
    return record
