"""LiveKit's own distribution, on one machine (issue 27): Redis, two livekit-server nodes sharing
it, two worker hosts with no library and no shared disk, the orchestrator on a host of its own
(tests/livekit_cluster.py builds it inside a network namespace the test makes). A plain run
spreads over both nodes and both workers; a worker host killed, a node lost and Redis restarted
mid-run each end with every conversation ok, the broken ones retried, none half-written.

About 15 minutes on 2 cores, so not part of `make test`: `make test-cluster` runs these (CI too).
"""

import json
import re

import pytest

from conftest import read_jsonl
import livekit_server
from netns import netns_unavailable, run_module_in_netns
from synthconv.runfolder.validate import validate_conversation

pytestmark = pytest.mark.cluster

SHORT = ["--scenario", "gas-smell", "--scenario", "test-results", "--scenario", "flight-rebooking"]  # ~60 s calls


def cluster(mode: str, out, *args: str, limit: float = 900) -> dict:
    why = livekit_server.unavailable() or netns_unavailable()
    if why:
        pytest.fail(why, pytrace=False)
    proc = run_module_in_netns("livekit_cluster", mode, str(out), "--concurrency", "4", "--seed", "3",
                               "--job-timeout", "240", *SHORT, *args, timeout=limit)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    res = json.loads(results[-1][len("RESULT "):])
    print(f"{mode}: {json.dumps({k: res[k] for k in ('seconds', 'events', 'spread', 'usage')})}")
    return res


def every_conversation_ok_and_complete(out, count: int) -> list[dict]:
    """The run's index, each line ok, each folder valid against the contract (tracks as long as
    the turns they carry, words inside the audio) with both roles speaking to the end."""
    rows = read_jsonl(out / "conversations.jsonl")
    assert len(rows) == count and all(r["status"] == "ok" for r in rows), rows
    for r in rows:
        folder = out / "conversations" / r["id"]
        assert validate_conversation(folder) == [], r["id"]
        turns = read_jsonl(folder / "transcript.jsonl")
        assert len(turns) >= 6 and {t["role"] for t in turns} == set(r["roles"])
        assert sum(1 for t in turns[:-1] if t["heard"]) >= len(turns) - 2  # they heard each other
    assert not list((out / "conversations").glob(".tmp-*"))  # nothing half-written left
    return rows


def rooms_of(out, rows: list[dict]) -> list[str]:
    return [json.loads((out / "conversations" / r["id"] / "meta.json").read_text())["livekit"]["room"] for r in rows]


def retries(out) -> list[str]:
    return re.findall(r" retry (\S+) in ", (out / "run.log").read_text())


def test_a_run_spreads_over_both_nodes_and_both_workers(tmp_path):
    out = tmp_path / "run"
    res = cluster("ok", out, "--count", "6")
    assert res["exit"] == 0, res["output"]
    rows = every_conversation_ok_and_complete(out, 6)
    spread = res["spread"]
    rooms = rooms_of(out, rows)
    assert {spread["rooms"][r] for r in rooms} == {"a", "b"}  # rooms ran on both nodes
    workers = {a.split(":")[0] for r in rooms for a in spread["agents"][r]}
    assert workers == {"1", "2"}  # and agents on both worker hosts
    assert all(len(spread["agents"][r]) == 2 for r in rooms)  # each role once: no re-dispatch needed
    assert retries(out) == []
