"""A real call with somebody else's agent (issue 28): tests/user_agent.py, written like
livekit-agents' own examples, registered under its own agent name on the real livekit-server,
called by `synthconv generate --agent agent=clinic-receptionist`. The agent writes down when it
heard the caller stop and when it started to answer (its truth); synthconv's measures from the
recorded tracks must agree with it."""

import glob
import json
from pathlib import Path

import pytest
from conftest import cli
from netns import netns_unavailable, run_module_in_netns

pytestmark = pytest.mark.livekit


@pytest.mark.parametrize("variant", [{}, {"USER_AGENT_DELAY_S": "2.0", "USER_AGENT_NO_YIELD": "1"}],
                         ids=["prompt", "slow-and-never-yields"])
def test_a_call_with_a_users_agent_is_recorded_and_measured(tmp_path, variant):
    if why := netns_unavailable():
        pytest.skip(why)
    out = tmp_path / "run"
    agents = [{"name": "clinic-receptionist", "env": variant}]
    proc = run_module_in_netns("livekit_agent_call", str(out), json.dumps(agents),
                               "--agent", "agent=clinic-receptionist", "--scenario", "appointment-booking",
                               "--count", "1", "--seed", "3", timeout=420)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["exit"] == 0, result["stdout"] + result["stderr"]
    assert result["rooms_left"] == []

    meta = json.loads(Path(glob.glob(f"{out}/conversations/*/meta.json")[0]).read_text())
    aut = meta["agent_under_test"]
    assert aut["agent_name"] == "clinic-receptionist" and aut["role"] == "agent" and aut["caller"] == "customer"
    truth = [t["latency_s"] for t in result["truth"]["clinic-receptionist"]]
    measured = aut["response_latency_s"]
    assert measured and truth
    # the replies' latencies from the tracks agree with the agent's own clock: typically within
    # 0.15 s (measure.py takes the caller's one hop off); one hop that spikes on the loaded test
    # machine moves one reply by its size (the agent's hops are not seen: 0.62 s seen once, under
    # the parallel suite), so each is bounded by 0.75 s
    errors = sorted(abs(m - t) for m, t in zip(measured, truth))
    assert errors[len(errors) // 2] < 0.15 and errors[-1] < 0.75, (measured, truth)
    if variant:
        assert min(measured) > 1.9  # the slow agent's 2 s shows
        assert aut["barge_ins"] and all(b["yield_s"] is None for b in aut["barge_ins"])  # it never stopped
    else:
        assert aut["barge_ins"] and all(b["yield_s"] is not None for b in aut["barge_ins"])
    # the agent's STT (Whisper tiny.en through a room) heard the caller (0.2185 seen once; nothing heard is 1.0)
    assert aut["heard_wer"] is not None and aut["heard_wer"] < 0.3
    assert cli("inspect", str(out), "--validate").returncode == 0
