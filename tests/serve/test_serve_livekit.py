"""A conversation started from the page against the real livekit-server, in a network namespace
(tests/livekit_serve.py), in Debian's Chromium: the runs page's form (a short scenario, a persona
chosen for one role, the other drawn) posts it and lands on the live page; the live page plays
both agents (non-zero level on each visualizer) with their state and shows each line once,
attributed to its speaker and marked when it was cut off, and becomes the player when the
conversation is recorded. Meanwhile the API lists it, its status goes dispatching -> live -> ok,
the agents report their state, an observer token hears both agents and cannot publish, and the
run it writes meets the contract."""

import json
import re
import shutil

import livekit_server
import pytest
from conftest import ROOT
from netns import netns_unavailable, run_module_in_netns

from synthconv.runfolder.validate import validate_conversation

pytestmark = pytest.mark.livekit
ARTIFACTS = ROOT / "test-artifacts" / "serve"


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def test_a_conversation_started_from_the_page(tmp_path):
    why = livekit_server.unavailable() or netns_unavailable()
    if why:
        pytest.fail(why, pytrace=False)
    out = tmp_path / "runs"
    proc = run_module_in_netns("livekit_serve", str(out), timeout=420)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    r = json.loads(lines[-1][len("RESULT "):])
    page = r["page"]
    shown = json.dumps(page, indent=1)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("form", "live", "player"):
        if (tmp_path / f"runs.{name}.png").is_file():
            shutil.copy(tmp_path / f"runs.{name}.png", ARTIFACTS / f"live-{name}.png")

    # the form: every engine offered, the customer left to be drawn; it posted and landed on the live page
    assert page["form"] == {"engines": ["offline", "openai-realtime", "openai-pipeline"], "customer": ""}, shown
    assert page["post"]["status"] == 201 and livekit_server.API_SECRET not in page["post"]["body"], shown
    started = json.loads(page["post"]["body"])
    assert page["live_url"].endswith(f"/#/live/{started['id']}") and r["listed"][0]["id"] == started["id"], shown
    assert r["final"]["state"] == "ok", (r, (tmp_path / "runs.serve.log").read_text()[-3000:])
    assert "live" in r["states"] and r["states"][-1] == "ok", r["states"]
    assert set(r["agent_states"]) & {"listening", "thinking", "speaking"}, r["agent_states"]
    job = r["run"]["jobs"][0]
    assert job["scenario"] == "quick-check" and job["roles"]["agent"] == "agent-callum-fraser", job
    assert r["run"]["flags"]["turn_taking"] == "natural"

    seen = r["observed"]
    assert len(seen["levels"]) == 2 and all(level > 0 for level in seen["levels"].values()), seen
    assert seen["publish"].startswith("refused"), seen
    assert seen["data_received"] == ["control"], seen  # the witness hears a data sender, not the viewer
    assert seen["viewer_tracks"] in (0, None) and seen["viewer_can_publish"] in (False, None), seen

    # the live page: both agents heard, their state shown, each line once, by its speaker
    live = page["page"]
    assert page["errors"] == [] and live["audio"] >= 2, shown
    assert len(live["peaks"]) == 2 and all(v > 0 for v in live["peaks"].values()), shown
    assert set(live["states"]) & {"listening", "thinking", "speaking"}, shown
    cid = r["final"]["conversation"]
    turns = r["final"]["turns"]
    identity = {f"{role}-{cid}": role for role in job["roles"]}
    for role in job["roles"]:  # what the page showed a speaker say is what the recording has it say, once
        said = [line for line in live["lines"] if identity[line["identity"]] == role]  # turns: no backchannels
        assert words(" ".join(line["text"] for line in said)) == \
            words(" ".join(t["text"] for t in turns if t["role"] == role and t.get("kind", "turn") == "turn")), (role, shown, turns)
        assert {line["speaker"] for line in said} == {t["speaker"] for t in turns if t["role"] == role}, shown
    assert sum(line["cut"] for line in live["lines"]) == sum(t["interrupted"] for t in turns), (shown, turns)

    # recorded: the live page became the player of what was written
    assert page["landed"].endswith(f"/#/runs/{started['id']}/{cid}"), shown
    assert page["player_turns"] == len(turns) >= 2, shown
    assert validate_conversation(out / started["id"] / "conversations" / cid) == []
