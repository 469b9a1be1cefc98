"""The OpenAI engines against a loopback OpenAI server (tests/openai_loopback): the real
livekit openai plugins talk the real wire protocols (streaming chat completions with tool calls,
audio speech, audio transcriptions, the Realtime WebSocket) to 127.0.0.1, which answers with real
speech. Nothing leaves the machine."""

import asyncio
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import one_line_error, read_jsonl, synthconv
from openai_loopback import LoopbackThread

from synthconv.runfolder.validate import validate_conversation

KEY = "sk-loopback-7f3a9c"  # must never appear in a run folder

# aiohttp's own multipart parser (the loopback's /v1/audio/transcriptions) uses a deprecated call
pytestmark = pytest.mark.filterwarnings("ignore:unread_data:DeprecationWarning")

# the closing beats' words and their paraphrases (engine/offline/wording.py)
GOODBYES = ("bye", "take care", "all the best", "look after yourself", "have a good one", "great day", "good day")


@pytest.fixture(scope="module")
def loopback():
    server = LoopbackThread().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_faults(loopback):
    loopback.server.faults.clear()
    loopback.server.goodbye_with_call = False
    yield
    loopback.server.faults.clear()


def run_cli(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, with no OpenAI settings but the test's own."""
    return synthconv(*args, env=env, drop=("OPENAI_", "SYNTHCONV_OPENAI_"), timeout=timeout)


def generate(out: Path, engine: str, *extra: str, env: dict | None = None, seed: int = 3):
    return run_cli("generate", "--engine", engine, "--count", "1", "--seed", str(seed), "--scenario",
                   "billing-dispute", "--concurrency", "1", "--job-timeout", "120", "--out", str(out), *extra,
                   env=env)


def check_run(out: Path, engine: str) -> list[dict]:
    """The run folder contract, plus what these engines promise: each side heard the other."""
    run = json.loads((out / "run.json").read_text())
    assert run["counts"] == {"planned": 1, "ok": 1, "failed": 0}
    [row] = read_jsonl(out / "conversations.jsonl")
    assert row["status"] == "ok" and row["error"] is None
    folder = out / "conversations" / row["id"]
    assert validate_conversation(folder) == []
    turns = read_jsonl(folder / "transcript.jsonl")
    assert len(turns) >= 6 and {t["role"] for t in turns} == {"agent", "customer"}
    assert all(t["text"] for t in turns)
    assert all(t["heard"] == t["text"] for t in turns), [(t["text"], t["heard"]) for t in turns]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["engine"] == engine and meta["timing"] == "modeled"
    assert {v["voice"] for v in meta["voices"].values()} <= {"alloy", "ash", "ballad", "coral", "echo", "sage",
                                                             "shimmer", "verse"}
    for path in out.rglob("*"):  # the key is never written anywhere
        if path.is_file() and path.suffix in (".json", ".jsonl", ".log", ".txt"):
            assert KEY not in path.read_text(errors="replace"), path
    return turns


def test_pipeline_generate_against_loopback(loopback, tmp_path):
    """STT -> LLM -> TTS with the key and base URL from the environment; the cost gate passes
    with --yes; the agent ends the call with the end_call tool after the scenario's last beat."""
    out = tmp_path / "run"
    before = dict(loopback.server.requests)
    t0 = time.monotonic()
    proc = generate(out, "openai-pipeline", "--yes",
                    env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.base_url,
                         "SYNTHCONV_OPENAI_CONFIRM_MINUTES": "0.5"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "API audio minutes" in proc.stdout
    turns = check_run(out, "openai-pipeline")
    assert time.monotonic() - t0 < 120
    used = {k: loopback.server.requests[k] - before.get(k, 0) for k in ("chat", "speech", "transcriptions")}
    assert used["chat"] >= len(turns) and used["speech"] >= len(turns) and used["transcriptions"] >= len(turns) - 1
    assert f"Bearer {KEY}" in loopback.server.auth_seen
    assert any(w in turns[-1]["text"].lower() for w in GOODBYES), turns[-1]["text"]
    assert len(turns) < 14 + 2  # ended by the agent, not by the turn limit
    flags = json.loads((out / "run.json").read_text())["flags"]
    assert flags["engine"] == "openai-pipeline"


def test_realtime_generate_against_loopback(loopback, tmp_path):
    """Realtime speech-to-speech: server VAD on audio delivered faster than real time, the
    model's own transcript as text, the peer's input transcription as heard. A local server
    needs no key: --base-url alone is enough."""
    out = tmp_path / "run"
    ends = loopback.server.end_calls
    proc = generate(out, "openai-realtime", "--base-url", loopback.base_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    turns = check_run(out, "openai-realtime")
    assert loopback.server.end_calls > ends  # the call was ended through the end_call tool
    assert any(w in turns[-1]["text"].lower() for w in GOODBYES), turns[-1]["text"]
    assert json.loads((out / "run.json").read_text())["flags"]["base_url"] == loopback.base_url


def test_transient_errors_are_retried(loopback, tmp_path):
    """429s and 500s from every endpoint, a refused WebSocket handshake and a rate-limited
    Realtime response: retried with backoff inside the job, which still succeeds."""
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.base_url}
    loopback.server.faults.update({"chat": [429, 500], "speech": [500], "transcriptions": [429]})
    proc = generate(tmp_path / "pipeline", "openai-pipeline", env=env, seed=5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_run(tmp_path / "pipeline", "openai-pipeline")
    hit = [e for e in loopback.server.log if e.get("status") in (429, 500)]
    assert len(hit) >= 4

    loopback.server.faults.update({"realtime_connect": [429], "realtime_response": [0, 0, 1]})
    proc = generate(tmp_path / "realtime", "openai-realtime", env=env, seed=5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_run(tmp_path / "realtime", "openai-realtime")
    assert not loopback.server.faults["realtime_connect"] and not loopback.server.faults["realtime_response"]


@pytest.mark.parametrize("engine", ["openai-realtime", "openai-pipeline"])
def test_missing_key_is_aone_line_error(engine, tmp_path):
    out = tmp_path / "run"
    one_line_error(run_cli("generate", "--engine", engine, "--count", "1", "--out", str(out)), "OPENAI_API_KEY")
    assert not out.exists()


def test_mixed_local_llm_and_hosted_speech_still_needs_the_key(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("generate", "--engine", "openai-pipeline", "--llm-base-url", "http://127.0.0.1:9/v1",
                   "--count", "1", "--out", str(out))
    one_line_error(proc, "OPENAI_API_KEY")
    assert not out.exists()


def test_large_run_needs_yes_when_nobody_can_answer(loopback, tmp_path):
    out = tmp_path / "run"
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.base_url}
    proc = run_cli("generate", "--engine", "openai-realtime", "--count", "200", "--out", str(out), env=env)
    one_line_error(proc, "API audio minutes", "--yes")
    assert not out.exists()
    # below the threshold it says what the run will cost and goes ahead (stopped here by an
    # --out that is not empty, which is checked after the estimate)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep").write_text("")
    proc = run_cli("generate", "--engine", "openai-realtime", "--count", "200", "--out", str(busy),
                   env={**env, "SYNTHCONV_OPENAI_CONFIRM_MINUTES": "100000"}, timeout=60)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert "200 conversations, about" in proc.stdout and "API audio minutes" in proc.stdout


def test_configuration_comes_from_the_environment(monkeypatch):
    from synthconv.config import EngineSpec
    from synthconv.engine import EngineError, make_engine
    from synthconv.engine.openai import OpenAIConfig

    for var in list(os.environ):
        if var.startswith(("OPENAI_", "SYNTHCONV_OPENAI_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1")
    monkeypatch.setenv("SYNTHCONV_OPENAI_LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("SYNTHCONV_OPENAI_LLM_MODEL", "llama3.1")
    cfg = OpenAIConfig.from_env()
    assert cfg.parts["llm"].base_url == "http://127.0.0.1:8080/v1" and cfg.parts["llm"].model == "llama3.1"
    assert cfg.parts["tts"].base_url == "http://127.0.0.1:1234/v1" and cfg.parts["tts"].model == "gpt-4o-mini-tts"
    make_engine(EngineSpec(name="openai-pipeline")).check([])  # all parts local: no key needed
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(EngineError, match="OPENAI_API_KEY"):
        make_engine(EngineSpec(name="openai-pipeline")).check([])  # speech on api.openai.com
    monkeypatch.setenv("SYNTHCONV_OPENAI_TTS_FORMAT", "ogg")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(EngineError, match="SYNTHCONV_OPENAI_TTS_FORMAT"):
        make_engine(EngineSpec(name="openai-pipeline")).check([])


def _engine_gives_up(loopback, engine_name: str, monkeypatch) -> BaseException:
    """Run one conversation in this process until the engine reports it cannot go on."""
    from synthconv.config import EngineSpec
    from synthconv.engine import make_engine
    from synthconv.engine.base import CallControl
    from synthconv.job import plan
    from synthconv.scenario import Library, load_library
    from synthconv.transport.local import converse

    monkeypatch.setenv("OPENAI_BASE_URL", loopback.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("SYNTHCONV_OPENAI_MAX_RETRIES", "2")
    errors: list[BaseException] = []
    monkeypatch.setattr(CallControl, "fail", lambda self, e: errors.append(e), raising=False)
    lib = load_library()
    lib = Library(scenarios={"billing-dispute": lib.scenarios["billing-dispute"]}, personas=lib.personas)
    job = plan(lib, 1, 3)[0]
    engine = make_engine(EngineSpec(name=engine_name))
    engine.warm_up()

    async def main() -> None:
        task = asyncio.create_task(converse(job.resolve(lib), engine, timeout=60))
        deadline = time.monotonic() + 45
        while not errors and not task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    asyncio.run(main())
    assert errors, "the engine never gave up"
    return errors[0]


def test_pipeline_gives_up_cleanly_when_rate_limits_persist(loopback, monkeypatch):
    """After its retries the engine hands the transport one error naming the part and the HTTP
    status; it is a ConnectionError, so the batch counts it as transient."""
    loopback.server.faults["chat"] = "always"
    t0 = time.monotonic()
    error = _engine_gives_up(loopback, "openai-pipeline", monkeypatch)
    assert time.monotonic() - t0 < 40
    assert isinstance(error, ConnectionError)
    assert "llm" in str(error) and "HTTP 429" in str(error) and "\n" not in str(error)


def test_realtime_gives_up_cleanly_when_responses_keep_failing(loopback, monkeypatch):
    loopback.server.faults["realtime_response"] = "always"
    error = _engine_gives_up(loopback, "openai-realtime", monkeypatch)
    assert isinstance(error, ConnectionError) and "realtime" in str(error)


def test_a_failed_job_is_reported_when_the_transport_supports_it(loopback, tmp_path):
    """End to end: a job whose API keeps refusing fails with that one-line error (not a time-out)."""
    from synthconv.engine.base import CallControl

    if not callable(getattr(CallControl, "fail", None)):
        pytest.skip("the local transport does not take engine failures yet (CallControl.fail)")
    loopback.server.faults["chat"] = "always"
    out = tmp_path / "run"
    t0 = time.monotonic()
    proc = generate(out, "openai-pipeline", "--retries", "0",
                    env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": loopback.base_url,
                         "SYNTHCONV_OPENAI_MAX_RETRIES": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [row] = read_jsonl(out / "conversations.jsonl")
    assert row["status"] == "failed" and "HTTP 429" in row["error"]
    assert time.monotonic() - t0 < 90
