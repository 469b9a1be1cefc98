"""`POST /api/v1/conversations` against the real livekit-server, in a network namespace
(tests/livekit_serve.py): the conversation goes dispatching -> live -> ok, the agents report
their state, the observer token hears both agents (non-zero level) and cannot publish, the live
page in Chromium plays both agents (non-zero level on each visualizer) with their state and at
least 2 transcript lines, and the run it writes meets the contract."""

import json
import shutil

import pytest

from conftest import ROOT

import livekit_server
from netns import netns_unavailable, run_module_in_netns
from synthconv.runfolder.validate import validate_conversation

pytestmark = pytest.mark.livekit
ARTIFACTS = ROOT / "test-artifacts" / "serve"


def test_a_conversation_started_over_the_api(tmp_path):
    why = livekit_server.unavailable() or netns_unavailable()
    if why:
        pytest.fail(why, pytrace=False)
    out = tmp_path / "runs"
    proc = run_module_in_netns("livekit_serve", str(out), timeout=420)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    r = json.loads(lines[-1][len("RESULT "):])
    assert r["post"] == 201 and not r["secret_in_response"], r
    assert r["final"]["state"] == "ok", (r, (tmp_path / "runs.serve.log").read_text()[-3000:])
    assert "live" in r["states"] and r["states"][-1] == "ok", r["states"]
    assert set(r["agent_states"]) & {"listening", "thinking", "speaking"}, r["agent_states"]

    seen = r["observed"]
    assert len(seen["levels"]) == 2 and all(level > 0 for level in seen["levels"].values()), seen
    assert seen["publish"].startswith("refused"), seen
    assert seen["data_received"] == ["control"], seen  # the witness hears a data sender, not the viewer
    assert seen["viewer_tracks"] in (0, None) and seen["viewer_can_publish"] in (False, None), seen

    page = r["page"]  # the live page: both agents heard, their state shown, the transcript growing
    shown = json.dumps(page, indent=1)
    assert page["errors"] == [] and page["audio"] >= 2, shown
    assert len(page["peaks"]) == 2 and all(v > 0 for v in page["peaks"].values()), shown
    assert set(page["states"]) & {"listening", "thinking", "speaking"} and len(page["lines"]) >= 2, shown
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "runs.live.png", ARTIFACTS / "live.png")

    cid = r["final"]["conversation"]
    assert len(r["final"]["turns"]) >= 2
    assert validate_conversation(out / r["started"]["id"] / "conversations" / cid) == []
