"""--agent on the command line and in a scenario (one-line errors before anything runs), and what
`inspect` makes of calls with an agent under test: the figures, the checks, --junit and the exit
code. The calls here are offline conversations given an agent_under_test record as the LiveKit
transport writes it (under_test/assess.py on their own tracks); tests/transport/
test_agent_under_test.py makes real ones."""

import dataclasses
import json
import shutil
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import yaml
from conftest import ROOT, cli, one_line_error

from synthconv.job import Job
from synthconv.recording import Recording, Turn
from synthconv.runfolder.audio import read_wav
from synthconv.scenario import Expect, SayPattern, UnderTest, load_library
from synthconv.under_test.assess import assess


def test_agent_needs_a_room():
    one_line_error(cli("generate", "--agent", "agent=my-bot", "--count", "1"), "--agent", "--transport livekit")


@pytest.mark.parametrize(("given", "needle"), [
    ("agent", "expected ROLE=AGENT_NAME"), ("agent=", "expected ROLE=AGENT_NAME"),
    ("Agent=bot", "expected ROLE=AGENT_NAME"), ("agent=my bot", "expected ROLE=AGENT_NAME"),
])
def test_a_malformed_agent_is_one_line(given, needle):
    one_line_error(cli("generate", "--transport", "livekit", "--agent", given), "--agent", needle)


def test_an_agent_for_a_role_the_scenario_lacks_names_the_scenario():
    proc = cli("generate", "--transport", "livekit", "--agent", "pilot=my-bot", "--scenario", "appointment-booking",
               "--livekit-url", "ws://127.0.0.1:9", "--livekit-api-key", "k", "--livekit-api-secret", "s")
    one_line_error(proc, "--agent pilot=my-bot", "appointment-booking", "its roles: agent, customer")


def test_an_agent_for_both_roles_is_refused():
    proc = cli("generate", "--transport", "livekit", "--agent", "agent=a", "--agent", "customer=b",
               "--scenario", "appointment-booking")
    one_line_error(proc, "--agent names both roles of scenario appointment-booking")


def _scenario(tmp_path, under_test: dict) -> tuple:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    d = yaml.safe_load((ROOT / "scenarios" / "appointment-booking.yaml").read_text())
    d["under_test"] = under_test
    (folder / "appointment-booking.yaml").write_text(yaml.safe_dump(d, sort_keys=False))
    return "--scenarios-dir", str(folder)


@pytest.mark.parametrize(("under_test", "needle"), [
    ({"role": "pilot"}, "under_test.role 'pilot' is not one of the roles"),
    ({"role": "agent", "expect": {"ask_for": ["shoe_size"]}}, "'shoe_size' is not a fact of customer"),
    ({"role": "agent", "expect": {"say": [{"pattern": "[A-Z"}]}}, "not a regular expression"),
    ({"role": "agent", "expect": {"max_p95_latency_s": 0}}, "max_p95_latency_s"),
])
def test_a_broken_under_test_block_names_the_file_and_field(tmp_path, under_test, needle):
    one_line_error(cli("scenarios", *_scenario(tmp_path, under_test)), "appointment-booking.yaml", needle)


def test_a_scenario_that_names_its_agent_needs_a_room(tmp_path):
    args = _scenario(tmp_path, {"role": "agent", "agent_name": "clinic-bot"})
    one_line_error(cli("generate", "--count", "1", *args), "scenario appointment-booking", "'clinic-bot'",
                   "--transport livekit")


def _call_record(run, cid: str, expect: Expect) -> dict:
    """The agent_under_test record of conversation `cid` of an offline run, its first role
    taken for the agent under test."""
    info = json.loads((run / "run.json").read_text())
    job = Job.from_dict(next(j for j in info["jobs"] if j["id"] == cid))
    played = job.resolve(load_library())
    agent = played.roles[0]
    played = dataclasses.replace(played, under_test=UnderTest(role=agent, agent_name="test-bot", expect=expect))
    folder = run / "conversations" / cid
    tracks = {r: read_wav(folder / "tracks" / f"{r}.wav")[0] for r in played.roles}
    turns = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
    rec = Recording(sample_rate=24000, tracks={r: np.asarray(t) for r, t in tracks.items()}, timing="measured",
                    turns=[Turn(**{k: t[k] for k in ("turn", "role", "speaker", "text", "start", "end",
                                                      "interrupted", "heard", "kind")}) for t in turns])
    return assess(played, rec, ending={"by": agent, "reason": "goodbye"})


@pytest.fixture()
def agent_run(offline_run, tmp_path):
    """A copy of the offline run whose calls have an agent under test; each call expects the agent
    to say what it said in its first turn and to answer within a minute, and the first call also
    a phrase it never says."""
    run = tmp_path / "run"
    shutil.copytree(offline_run, run)
    for i, folder in enumerate(sorted((run / "conversations").iterdir())):
        first = json.loads((folder / "transcript.jsonl").read_text().splitlines()[0])["text"]
        say = [" ".join(first.split()[:3])] + (["a phrase nobody says"] if i == 0 else [])
        meta = json.loads((folder / "meta.json").read_text())
        meta["agent_under_test"] = _call_record(run, folder.name, Expect(say=say, max_p95_latency_s=60))
        (folder / "meta.json").write_text(json.dumps(meta))
    return run


def test_inspect_shows_the_agents_figures_and_fails_on_an_unmet_expectation(agent_run, tmp_path):
    proc = cli("inspect", str(agent_run))
    assert proc.returncode == 1, proc.stdout
    assert "agent under test test-bot: 3 calls; response latency p50" in proc.stdout
    assert "checks: 6 passed, 1 failed, 0 not measured" in proc.stdout
    first = sorted(p.name for p in (agent_run / "conversations").iterdir())[0]
    assert f"FAILED {first} say: a phrase nobody says: not said in the agent's" in proc.stdout

    summary = json.loads(cli("inspect", str(agent_run), "--json").stdout)["agent_under_test"]["test-bot"]
    assert summary["checks"] == {"pass": 6, "fail": 1, "not measured": 0} and summary["calls"] == 3
    assert summary["replies"] > 0 and summary["latency_p95_s"] >= summary["latency_p50_s"] > 0


def test_junit_has_a_case_per_call_and_expectation_and_the_failure_with_its_evidence(agent_run, tmp_path):
    last = sorted((agent_run / "conversations").iterdir())[-1] / "meta.json"
    meta = json.loads(last.read_text())  # a check that could not be measured, as the transport writes it
    meta["agent_under_test"]["checks"][-1].update(status="not measured", evidence="the caller never cut in")
    last.write_text(json.dumps(meta))
    out = tmp_path / "junit.xml"
    proc = cli("inspect", str(agent_run), "--junit", str(out))
    assert proc.returncode == 1
    root = ET.parse(out).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("10", "1", "1")  # 3 calls + 7 checks
    (failure,) = root.iter("failure")
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    assert case.get("name") == "say: a phrase nobody says" and "not said in the agent's" in failure.get("message")
    skipped = [c.find("skipped").get("message") for c in root.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["not measured: the caller never cut in"]


def test_a_run_whose_expectations_all_hold_passes(agent_run, tmp_path):
    for folder in (agent_run / "conversations").iterdir():
        meta = json.loads((folder / "meta.json").read_text())
        meta["agent_under_test"] = _call_record(agent_run, folder.name, Expect(say=[SayPattern(pattern=r"\w")]))
        (folder / "meta.json").write_text(json.dumps(meta))
    out = tmp_path / "junit.xml"
    proc = cli("inspect", str(agent_run), "--junit", str(out))
    assert proc.returncode == 0, proc.stdout
    assert ET.parse(out).getroot().get("failures") == "0"


def test_a_failed_call_fails_its_junit_case(agent_run, tmp_path):
    rows = [json.loads(line) for line in (agent_run / "conversations.jsonl").read_text().splitlines()]
    rows[1].update(status="failed", duration_s=None, turns=None,
                   error="AgentUnderTestError: agent 'test-bot' left room r before the call ended (12 s in, 3 lines heard)")
    shutil.rmtree(agent_run / "conversations" / rows[1]["id"])
    (agent_run / "conversations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "junit.xml"
    assert cli("inspect", str(agent_run), "--junit", str(out)).returncode == 1
    call = next(c for c in ET.parse(out).getroot().iter("testcase")
                if c.get("name") == "call" and c.get("classname").endswith(rows[1]["id"]))
    assert "left room r before the call ended" in call.find("failure").get("message")
