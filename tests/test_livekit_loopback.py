"""The loopback LiveKit server against the real `livekit` SDK and real livekit-agents workers.

Each test runs one scenario of tests/livekit_loopback/scenarios.py in a subprocess inside a fresh
network namespace (libwebrtc ignores loopback; nothing leaves the namespace), bounded in time.
Skipped where network namespaces cannot be created.
"""

import json

import pytest

from livekit_loopback.netns import netns_unavailable, run_module_in_netns

# the scenario's own limit, then the subprocess's (server start/stop, SDK teardown)
LIMITS = {"audio": 60, "data": 60, "agents": 120, "delete_room": 60, "auth": 40, "permissions": 90,
          "server_process": 60, "worker_protocol": 40,
          "observer": 120}


pytestmark = pytest.mark.livekit


def run_scenario(name: str) -> dict:
    why = netns_unavailable()
    if why:
        pytest.skip(why)
    proc = run_module_in_netns("livekit_loopback.scenarios", name, "--timeout", str(LIMITS[name]),
                               timeout=LIMITS[name] + 45)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, (
        f"scenario {name} failed (exit {proc.returncode})\n--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-8000:]}")
    return json.loads(results[-1][len("RESULT "):])


def test_audio_track_is_relayed_with_the_right_pitch():
    result = run_scenario("audio")
    assert abs(result["pitch_hz"] - 440.0) < 5.0


def test_a_hidden_observer_hears_two_tracks_published_together():
    # the recording path of --transport livekit: both agents' tracks, each at its own pitch,
    # in each of 3 rooms (a second track added before the first one's answer once never played)
    result = run_scenario("observer")
    assert len(result["rounds"]) == 3
    for heard in result["rounds"]:
        assert abs(heard["alice"] - 440.0) < 5.0 and abs(heard["bob"] - 660.0) < 5.0, heard


def test_text_streams_and_data_packets_reach_the_right_participants():
    result = run_scenario("data")
    assert result["texts"] == 1


def test_agent_server_takes_two_explicit_dispatches_as_agent_participants():
    # also: a declined job is offered again, the identity comes from the worker's answer, a
    # silently dropped dispatch (server.drop_next_dispatches) never arrives, agent b and a
    # hidden observer hear agent a's tone, and DeleteRoom ends both jobs
    result = run_scenario("agents")
    roles = sorted(json.loads(j["metadata"])["role"] for j in result["jobs"])
    assert roles == ["a", "b"]
    assert all(j["kind"] == 4 for j in result["jobs"])  # PARTICIPANT_KIND_AGENT
    assert result["dispatches"] == 3  # two assigned, one dropped by the test hook
    assert abs(result["agent_pitch_hz"] - 440.0) < 5.0


def test_worker_protocol_by_hand():
    # automatic dispatch for unnamed workers, decline with terminate, assignment token, termination
    assert run_scenario("worker_protocol")["worker_id"].startswith("AW_")


def test_delete_room_disconnects_the_participants():
    # also: RemoveParticipant, max_participants, a duplicate identity, departure_timeout
    result = run_scenario("delete_room")
    assert result["reasons"] == {"alice": "ROOM_DELETED", "bob-again": "ROOM_DELETED", "bob": "DUPLICATE_IDENTITY",
                                 "carol": "PARTICIPANT_REMOVED"}


def test_grants_are_honoured():
    # canPublish=false, canSubscribe=false, hidden, canUpdateOwnMetadata
    result = run_scenario("permissions")
    assert abs(result["ghost_pitch_hz"] - 440.0) < 5.0


def test_bad_tokens_are_rejected():
    result = run_scenario("auth")
    assert "401" in result["connect_error"]


def test_server_runs_as_its_own_process():
    # python -m livekit_loopback.server, its /loopback/* HTTP hooks, clean exit on SIGTERM
    result = run_scenario("server_process")
    assert result == {"participants": ["alice", "bob"], "exit": 0}
