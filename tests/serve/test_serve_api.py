"""synthconv serve's API (FastAPI TestClient) over a copy of the shared offline run: what it
lists agrees with `synthconv inspect`, audio answers range requests, ids cannot leave the runs
folder, and a token, when set, guards every call."""

import json
import shutil

import pytest
from conftest import cli, one_line_error, read_jsonl
from fastapi.testclient import TestClient

from synthconv.serve import create_app

LOOPBACK = "http://127.0.0.1"


@pytest.fixture(scope="module")
def runs(offline_run, tmp_path_factory):
    runs = tmp_path_factory.mktemp("served")
    shutil.copytree(offline_run, runs / "seed7")
    return runs


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), base_url=LOOPBACK)


def test_runs_and_conversations_match_inspect(runs, client):
    listed = client.get("/api/v1/runs").json()["runs"]
    assert [(r["id"], r["state"], r["planned"], r["by_status"]) for r in listed] == [("seed7", "complete", 3, {"ok": 3})]
    summary = json.loads(cli("inspect", str(runs / "seed7"), "--json").stdout)
    got = client.get("/api/v1/runs/seed7").json()
    assert {k: got[k] for k in ("planned", "by_status", "by_scenario", "duration_s")} == \
        {k: summary[k] for k in ("planned", "by_status", "by_scenario", "duration_s")}

    index = read_jsonl(runs / "seed7" / "conversations.jsonl")
    assert client.get("/api/v1/runs/seed7/conversations").json()["conversations"] == index
    scenario = index[0]["scenario"]
    by_scenario = client.get("/api/v1/runs/seed7/conversations", params={"scenario": scenario}).json()
    assert [r["id"] for r in by_scenario["conversations"]] == [r["id"] for r in index if r["scenario"] == scenario]
    assert client.get("/api/v1/runs/seed7/conversations", params={"status": "failed"}).json()["conversations"] == []
    assert client.get("/api/v1/runs/nope").status_code == 404


def test_one_conversation_and_its_problems(runs, client):
    cid = read_jsonl(runs / "seed7" / "conversations.jsonl")[0]["id"]
    folder = runs / "seed7" / "conversations" / cid
    c = client.get(f"/api/v1/runs/seed7/conversations/{cid}").json()
    assert c["status"] == "ok" and c["problems"] == []
    assert c["transcript"] == read_jsonl(folder / "transcript.jsonl")
    assert c["meta"] == json.loads((folder / "meta.json").read_text())
    assert set(c["audio"]["tracks"]) == set(c["roles"])
    quick = client.get(f"/api/v1/runs/seed7/conversations/{cid}", params={"validate": "false"}).json()
    assert quick["problems"] is None and quick["transcript"] == c["transcript"]
    for url in [c["audio"]["mix"], *c["audio"]["tracks"].values()]:
        assert client.get(url).status_code == 200

    # a damaged copy: its problems are the validator's
    shutil.copytree(runs / "seed7", runs / "damaged")
    role = sorted(c["roles"])[0]
    (runs / "damaged" / "conversations" / cid / "tracks" / f"{role}.wav").unlink()
    damaged = client.get(f"/api/v1/runs/damaged/conversations/{cid}").json()
    assert f"missing tracks/{role}.wav" in damaged["problems"]
    assert client.get(f"/api/v1/runs/damaged/conversations/{cid}?validate=false").json()["problems"] is None
    assert role not in damaged["audio"]["tracks"]
    assert client.get(f"/api/v1/runs/damaged/conversations/{cid}/tracks/{role}.wav").status_code == 404
    shutil.rmtree(runs / "damaged")


def test_audio_answers_range_requests(runs, client):
    cid = read_jsonl(runs / "seed7" / "conversations.jsonl")[1]["id"]
    data = (runs / "seed7" / "conversations" / cid / "mix.mp3").read_bytes()
    r = client.get(f"/api/v1/runs/seed7/conversations/{cid}/mix.mp3", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    assert r.headers["content-range"] == f"bytes 1000-1999/{len(data)}" and r.headers["content-type"] == "audio/mpeg"
    tail = client.get(f"/api/v1/runs/seed7/conversations/{cid}/mix.mp3", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]


def test_ids_cannot_leave_the_runs_folder(runs, client, offline_run):
    cid = read_jsonl(runs / "seed7" / "conversations.jsonl")[0]["id"]
    (runs / "outside").symlink_to(offline_run)  # a run outside the runs folder, linked in
    try:
        for url in ["/api/v1/runs/outside", "/api/v1/runs/..", "/api/v1/runs/.hidden/conversations",
                    "/api/v1/runs/%2e%2e/conversations", "/api/v1/runs/seed7/conversations/..%2F..%2Frun.json",
                    f"/api/v1/runs/seed7/conversations/{cid}%2F..",
                    f"/api/v1/runs/seed7/conversations/{cid}/tracks/..%2F..%2Fmeta.wav",
                    f"/api/v1/runs/seed7/conversations/{cid}/tracks/%2e%2e.wav"]:
            r = client.get(url)
            assert r.status_code in (400, 404), (url, r.status_code, r.text)
        assert client.get("/api/v1/runs").json()["runs"][0]["id"] == "seed7"
    finally:
        (runs / "outside").unlink()


def test_token_guards_every_api_call(runs):
    token = "t" * 24
    guarded = TestClient(create_app(runs, token), base_url="http://192.0.2.10:8000")  # off loopback
    calls = [(method.upper(), p) for p, ops in guarded.app.openapi()["paths"].items() if p.startswith("/api/v1")
             for method in ops]  # every documented call
    assert len(calls) == 12
    first = read_jsonl(runs / "seed7" / "conversations.jsonl")[0]
    role = sorted(first["roles"])[0]
    calls = [(m, p.replace("{run}", "seed7").replace("{cid}", first["id"]).replace("{role}", role)) for m, p in calls]
    body = {"json": {"scenario": first["scenario"]}}
    # the calls that start or follow conversations need LiveKit, which this server was not given
    expected = {("POST", "/api/v1/session"): 204, ("GET", "/api/v1/conversations"): 200}
    for method, url in calls:
        assert guarded.request(method, url, **body).status_code == 401, url
        assert guarded.request(method, url, headers={"Authorization": "Bearer wrong"}, **body).status_code == 401, url
        ok = guarded.request(method, url, headers={"Authorization": f"Bearer {token}"}, **body)
        want = expected.get((method, url), 503 if url.startswith(("/api/v1/conversations", "/api/v1/scenarios")) else 200)
        assert ok.status_code == want, (url, ok.text)
        guarded.cookies.clear()  # POST /session set the cookie: the next call starts without it
    guarded.cookies.set("synthconv_token", token)  # what the page sends, with <audio> requests too
    assert all(guarded.request(m, url, **body).status_code in (200, 204, 503) for m, url in calls)
    # without a token only loopback names are answered (no DNS rebinding onto a local server)
    open_ = TestClient(create_app(runs), base_url="http://attacker.example")
    assert open_.get("/api/v1/runs").status_code == 400


def test_observer_token_is_hidden_subscribe_only_and_short_lived(runs):
    from livekit import api

    from synthconv.scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, load_library
    from synthconv.serve.live import Conversations, LiveKit

    secret = "s3cret-never-in-a-response-0123456789"
    lk = LiveKit("ws://127.0.0.1:9", "key-k", secret)
    live = Conversations(runs, load_library(DEFAULT_SCENARIOS, DEFAULT_PERSONAS), lk, DEFAULT_SCENARIOS,
                         DEFAULT_PERSONAS)
    client = TestClient(create_app(runs, live=live), base_url=LOOPBACK)
    claims = api.TokenVerifier("key-k", secret).verify(lk.observer_token("synthconv-live-x"))
    v = claims.video
    assert (v.room_join, v.room, v.hidden, v.can_subscribe) == (True, "synthconv-live-x", True, True)
    assert (v.can_publish, v.can_publish_data, v.can_update_own_metadata) == (False, False, False)
    # bad requests are refused before anything starts, naming the field
    for body, field in [({"scenario": "nope"}, "scenario"), ({"scenario": "outage", "engine": "gpt"}, "engine"),
                        ({"scenario": "outage", "personas": {"pilot": "x"}}, "personas"),
                        ({"scenario": "outage", "personas": {"agent": "cust-tom-becker"}}, "personas.agent"),
                        ({"scenario": "outage", "turn_taking": "chaotic"}, "turn_taking")]:
        r = client.post("/api/v1/conversations", json=body)
        assert r.status_code == 422 and r.json()["detail"].startswith(field + ":"), r.text
        assert secret not in r.text
    assert live.started == {} and not any(p.name.startswith("live-") for p in runs.iterdir())
    assert client.get("/api/v1/conversations/live-x/status").status_code == 404


def test_serve_refuses_bad_flags(tmp_path):
    one_line_error(cli("serve", "--runs", str(tmp_path), "--livekit-url", "ws://127.0.0.1:9"), "--livekit-api-key")
    one_line_error(cli("serve", "--runs", str(tmp_path / "missing")), "--runs")
    one_line_error(cli("serve", "--runs", str(tmp_path), "--host", "0.0.0.0"), "--api-token")
    one_line_error(cli("serve", "--runs", str(tmp_path), "--host", "0.0.0.0", "--api-token", "short"), "--api-token")
