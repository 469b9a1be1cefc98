"""`synthconv serve` under hostile and damaged input (issue 24, items 1-7), through the real app
(FastAPI TestClient) or a real `synthconv serve` process: links inside a run are never followed,
a damaged conversation is that conversation's problem (never a 500, never hiding the others), the
token is checked before the body is read and bodies are bounded, conversations started over the
API are bounded, audio is served from an index kept in memory, Swagger UI comes from the package,
and the token cookie is HttpOnly and SameSite=Strict."""

import json
import os
import select
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import cli, read_jsonl, start
from fastapi.testclient import TestClient

from synthconv.serve import create_app, pages_built

LOOPBACK = "http://127.0.0.1"
SECRET = "top-secret-credential-0123456789"


@pytest.fixture
def runs(offline_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(offline_run, runs / "seed7")
    return runs


def ids(run: Path) -> list[str]:
    return [r["id"] for r in read_jsonl(run / "conversations.jsonl")]


def test_links_inside_a_run_are_never_followed(runs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps({"key": SECRET, "duration_s": 9999, "wer": 0.999}))
    a, b, c = ids(runs / "seed7")
    shutil.copytree(runs / "seed7", runs / "linked")
    conv = runs / "linked" / "conversations"
    role = sorted(json.loads((conv / a / "meta.json").read_text())["personas"])[0]
    (conv / a / "tracks" / f"{role}.wav").unlink()
    (conv / a / "tracks" / f"{role}.wav").symlink_to(outside / "secret.json")  # a track
    (conv / b / "mix.mp3").unlink()
    (conv / b / "mix.mp3").symlink_to(outside / "secret.json")  # the mix
    (conv / c / "meta.json").unlink()
    (conv / c / "meta.json").symlink_to(outside / "secret.json")  # meta.json, with figures of its own
    shutil.copytree(runs / "seed7" / "conversations", outside / "conversations")
    shutil.copytree(runs / "seed7", runs / "elsewhere")
    shutil.rmtree(runs / "elsewhere" / "conversations")
    (runs / "elsewhere" / "conversations").symlink_to(outside / "conversations")  # conversations/ itself
    (runs / "symlinked").symlink_to(runs / "seed7")  # a whole run, linked in
    client = TestClient(create_app(runs), base_url=LOOPBACK)

    base = "/api/v1/runs/linked/conversations"
    for url in [f"{base}/{a}/tracks/{role}.wav", f"{base}/{a}", f"{base}/{b}/mix.mp3", f"{base}/{b}",
                f"{base}/{c}", f"{base}/{c}?validate=false", "/api/v1/runs/elsewhere",
                f"/api/v1/runs/elsewhere/conversations/{a}/mix.mp3", "/api/v1/runs/symlinked",
                f"/api/v1/runs/symlinked/conversations/{a}/mix.mp3"]:
        r = client.get(url)
        assert r.status_code in (400, 422) and "symbolic link" in r.json()["detail"], (url, r.status_code, r.text)
        assert SECRET not in r.text
    listed = {r["id"]: r for r in client.get("/api/v1/runs").json()["runs"]}
    assert listed["seed7"]["by_status"] == {"ok": 3} and listed["linked"]["by_status"] == {"ok": 3}
    for name in ("elsewhere", "symlinked"):  # listed as refused, with no figure read through the link
        assert listed[name]["state"] == "unreadable" and listed[name]["planned"] == 0, listed[name]
        assert "symbolic link" in listed[name]["error"]
    summary = client.get("/api/v1/runs/linked").json()
    # each of the three has a link inside: none is read for the figures (c's outside wer is not taken)
    assert summary["wer"] == {"conversations": 0, "mean": None} and SECRET not in json.dumps(summary)
    rows = client.get(f"{base}").json()["conversations"]
    assert [r["id"] for r in rows] == ids(runs / "seed7")  # every row stays listed


def test_a_damaged_conversation_is_its_own_problem(runs):
    shutil.copytree(runs / "seed7", runs / "damaged")
    a, b, c = ids(runs / "damaged")
    conv = runs / "damaged" / "conversations"

    def edit(cid: str, change) -> None:  # noqa: ANN001
        path = conv / cid / "transcript.jsonl"
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(change(lines)))

    def drop_start(line: bytes) -> bytes:
        t = json.loads(line)
        del t["start"]
        return (json.dumps(t) + "\n").encode()

    def retype(line: bytes, **fields) -> bytes:  # noqa: ANN003
        return (json.dumps({**json.loads(line), **fields}) + "\n").encode()

    edit(a, lambda ls: [ls[0], drop_start(ls[1]), *ls[2:], b"\xff\xfe not utf-8\n"])
    edit(b, lambda ls: [retype(ls[0], start="1.0"), retype(ls[1], role=["agent"]), *ls[2:]])
    meta = json.loads((conv / c / "meta.json").read_text())
    (conv / c / "meta.json").write_text(json.dumps({**meta, "duration_s": "83.4"}))
    index = read_jsonl(runs / "damaged" / "conversations.jsonl")
    index[2]["duration_s"] = "x"
    (runs / "damaged" / "conversations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in index))
    client = TestClient(create_app(runs), base_url=LOOPBACK)

    listed = {r["id"]: r for r in client.get("/api/v1/runs").json()["runs"]}
    assert set(listed) == {"seed7", "damaged"} and listed["seed7"]["state"] == "complete"
    assert listed["damaged"]["planned"] == 3 and listed["damaged"]["by_status"] == {"ok": 3}
    run = client.get("/api/v1/runs/damaged")
    assert run.status_code == 200
    assert any("conversations.jsonl line 3" in d and "duration_s: 'x' is not a number" in d for d in run.json()["damage"]), run.text

    def problems(cid: str) -> list[str]:
        r = client.get(f"/api/v1/runs/damaged/conversations/{cid}")
        assert r.status_code == 200, r.text
        return r.json()["problems"]

    assert "transcript.jsonl line 2: missing ['start']" in problems(a)
    n = len((conv / a / "transcript.jsonl").read_bytes().splitlines())
    assert f"transcript.jsonl line {n}: not JSON" in problems(a)
    got = client.get(f"/api/v1/runs/damaged/conversations/{a}?validate=false").json()
    assert len(got["transcript"]) == n - 2 and got["problems"] is None  # the usable lines are shown
    found = problems(b)
    assert "transcript.jsonl line 1: start: '1.0' is not a number" in found
    assert "transcript.jsonl line 2: role: ['agent'] is not a string" in found
    assert "meta.json: duration_s: '83.4' is not a number" in problems(c)
    conversations = client.get("/api/v1/runs/damaged/conversations").json()["conversations"]
    assert [r["status"] for r in conversations] == ["ok", "ok", "ok"]
    assert conversations[2]["duration_s"] is None  # neither the bad line's "x" nor meta.json's "83.4"

    # the CLI reads it the same way: JSON, no traceback
    proc = cli("inspect", str(runs / "damaged"), "--validate", "--json")
    report = json.loads(proc.stdout)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "transcript.jsonl line 2: missing ['start']" in json.dumps(report)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _post_huge(port: int, size: int, headers: str = "", chunked: bool = False) -> tuple[str, int]:
    """POST `size` bytes of body (with its length up front, or `chunked` in 64 KB chunks),
    sending until the server answers; the answer's status line and how many bytes were sent
    before it came. A server that answers and closes mid-body is read all the same."""
    sock = socket.create_connection(("127.0.0.1", port))
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(f"POST /api/v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 f"{length}\r\n{headers}\r\n".encode())
    step = (1 << 16) if chunked else (1 << 20)
    sent = 0
    try:
        while sent < size and not select.select([sock], [], [], 0)[0]:
            n = min(step, size - sent)
            sock.sendall(f"{n:x}\r\n".encode() + b" " * n + b"\r\n" if chunked else b" " * n)
            sent += n
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(30)
    answer = sock.recv(4096).decode(errors="replace")
    sock.close()
    return answer.split("\r\n", 1)[0], sent


def test_token_before_body_and_bodies_are_bounded(runs):
    token = "k" * 32
    port = _free_port()
    proc = start("serve", "--runs", str(runs), "--port", str(port), "--api-token", token)
    try:
        _wait(f"http://127.0.0.1:{port}/", proc)
        before = _rss_mb(proc.pid)
        status, sent = _post_huge(port, 400 << 20)  # 400 MB, no token
        assert status.startswith("HTTP/1.1 401 "), status
        time.sleep(0.5)
        grown = _rss_mb(proc.pid) - before
        assert grown < 20, f"resident memory grew by {grown:.0f} MB after an unauthenticated 400 MB POST"
        assert sent < 400 << 20  # answered without waiting for the body
        status, _ = _post_huge(port, 1 << 20, f"Authorization: Bearer {token}\r\n")  # over the limit, said up front
        assert status.startswith("HTTP/1.1 413 "), status
        # over the limit, chunked (no length up front): found while read. The server may close
        # before the client has sent it all (urllib then saw a broken pipe, not the 413)
        status, _ = _post_huge(port, 4 << 16, f"Authorization: Bearer {token}\r\n", chunked=True)
        assert status.startswith("HTTP/1.1 413 "), status
    finally:
        proc.terminate()
        proc.wait(10)


def test_conversations_started_over_the_api_are_bounded(runs):
    from synthconv.scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, load_library
    from synthconv.serve.live import Conversations, LiveKit

    live = Conversations(runs, load_library(DEFAULT_SCENARIOS, DEFAULT_PERSONAS), LiveKit("ws://127.0.0.1:9", "k", "s"),
                         DEFAULT_SCENARIOS, DEFAULT_PERSONAS, max_running=2)
    client = TestClient(create_app(runs, live=live), base_url=LOOPBACK)
    answers: list = []

    def post() -> None:
        answers.append(client.post("/api/v1/conversations", json={"scenario": "outage", "turn_taking": "strict"}))

    try:
        threads = [threading.Thread(target=post) for _ in range(6)]  # six at once, as in the finding
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 201, 429, 429, 429, 429], [r.text for r in answers]
        busy = next(r for r in answers if r.status_code == 429).json()["detail"]
        assert busy == ("2 conversations started here are still running, as many as this server runs at once "
                        "(serve --max-live 2): wait for one to end")
        listed = client.get("/api/v1/conversations").json()
        assert listed["enabled"] and listed["max_running"] == 2 and len(listed["conversations"]) == 2
        assert {c["state"] for c in listed["conversations"]} <= {"running", "failed"}
        assert all(c["turn_taking"] == "strict" for c in listed["conversations"])
        assert all("--turn-taking" in s.proc.args and "strict" in s.proc.args for s in live.started.values())
    finally:
        live.stop_all()
        for s in live.started.values():
            s.proc.wait(30)
    assert client.post("/api/v1/conversations", json={"scenario": "outage"}).status_code == 201  # room again
    live.stop_all()
    for s in live.started.values():
        s.proc.wait(30)


def test_audio_comes_from_an_index_read_again_only_when_the_run_changes(runs, monkeypatch):
    import synthconv.serve.runs as served

    reads: list[Path] = []
    real = served.read_run
    monkeypatch.setattr(served, "read_run", lambda run: reads.append(run) or real(run))
    client = TestClient(create_app(runs), base_url=LOOPBACK)
    a, b, _ = ids(runs / "seed7")
    for cid in (a, b, a):
        r = client.get(f"/api/v1/runs/seed7/conversations/{cid}/mix.mp3", headers={"Range": "bytes=0-99"})
        assert r.status_code == 206 and len(r.content) == 100
    assert len(reads) == 1  # one read of the run for every request
    index = runs / "seed7" / "conversations.jsonl"
    rows = read_jsonl(index)
    (runs / "seed7" / "conversations.jsonl.new").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    os.replace(runs / "seed7" / "conversations.jsonl.new", index)  # as the supervisor rewrites it
    listed = client.get("/api/v1/runs/seed7/conversations").json()["conversations"]
    assert len(reads) == 2 and len(listed) == 3  # read again; the third is still found from its folder
    shutil.rmtree(runs / "seed7" / "conversations" / b)  # a conversation folder goes: conversations/ changed
    assert client.get(f"/api/v1/runs/seed7/conversations/{b}/mix.mp3").status_code == 404
    assert len(reads) == 3


def test_swagger_ui_from_the_package_and_an_httponly_cookie(runs):
    assert pages_built(), "the pages are not built: run `make web`"
    token = "c" * 32
    client = TestClient(create_app(runs, token), base_url="http://192.0.2.10:8000")
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # nothing from a CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    assert client.get("/api/openapi.json").json()["info"]["title"] == "synthconv"

    assert client.post("/api/v1/session", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "set-cookie" not in client.post("/api/v1/session").headers
    r = client.post("/api/v1/session", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"synthconv_token={token};")
    assert {"HttpOnly", "SameSite=strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}, cookie
    assert client.get("/api/v1/runs").status_code == 200  # the cookie, sent back, is the token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"synthconv serve did not start: {proc.communicate()}")
            time.sleep(0.2)
