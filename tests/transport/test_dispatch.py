"""A LiveKit dispatch carries the job as played, within livekit-server's metadata limit (issue 27).

A worker on another machine has no library: what it plays is what the dispatch says. The cluster
test (test_livekit_cluster.py) shows it in rooms; these check the record itself, for every
scenario of the library and for one too large to travel as plain JSON.
"""

import base64
import dataclasses
import json
import os
import zlib
from pathlib import Path

import pytest

from synthconv.config import RunConfig
from synthconv.job import plan
from synthconv.scenario import load_library
from synthconv.transport.protocol import MAX_METADATA_BYTES, Dispatch


@pytest.fixture(scope="module")
def played_jobs():
    library = load_library()
    return [job.resolve(library) for job in plan(library, len(library.scenarios), seed=1, personas="sampled")]


def dispatch(played, role=None) -> Dispatch:
    config = RunConfig.build(transport="livekit", engine="openai-realtime",
                             openai={"realtime_base_url": "https://user:pw@llm.example/v1"})
    return Dispatch(role=role or played.roles[0], played=played, engine=config.engine_spec, timing=config.timing)


def test_every_scenario_of_the_library_travels_whole_as_plain_json(played_jobs):
    assert {p.scenario.id for p in played_jobs} == set(load_library().scenarios)  # one job per scenario
    for played in played_jobs:
        for role in played.roles:
            d = dispatch(played, role)
            text = d.to_json()
            assert len(text.encode()) <= MAX_METADATA_BYTES and json.loads(text)["role"] == role
            back = Dispatch.from_json(text)
            assert back.played == played and back.role == role and back.timing == d.timing
            assert back.name == played.personas[role].name
            assert "user:pw" not in text and back.engine == d.engine.public()  # no credentials leave


def test_a_dispatch_over_the_limit_is_compressed_and_expands_to_the_same_job(played_jobs):
    played = played_jobs[0]
    role = played.roles[0]
    # a fact list that makes the job 700 KB of JSON (a scenario file may be 1 MB)
    facts = {**played.facts, role: {**played.facts[role], **{f"note{i}": "the meter was read on Tuesday " * 30
                                                             for i in range(800)}}}
    big = dataclasses.replace(played, facts=facts)
    text = dispatch(big).to_json()
    assert len(text) <= MAX_METADATA_BYTES < len(json.dumps(big.to_dict(), ensure_ascii=False).encode())
    assert set(json.loads(text)) == {"zlib"}
    assert Dispatch.from_json(text).played == big


def test_a_dispatch_too_large_even_compressed_is_refused_naming_the_scenario(played_jobs):
    played = played_jobs[0]
    role = played.roles[0]
    noise = base64.b64encode(os.urandom(450_000)).decode()  # does not compress
    big = dataclasses.replace(played, facts={**played.facts, role: {"serial": noise}})
    with pytest.raises(ValueError, match=rf"metadata limit: shorten scenario {played.scenario.id}"):
        dispatch(big).to_json()


def test_a_compressed_dispatch_that_expands_without_bound_is_refused():
    bomb = base64.b64encode(zlib.compress(b"[" * (64 * 1024 * 1024), 9)).decode()
    assert len(bomb) < MAX_METADATA_BYTES
    with pytest.raises(ValueError, match="expands beyond"):
        Dispatch.from_json(json.dumps({"zlib": bomb}))
    with pytest.raises(ValueError, match="damaged compressed dispatch"):
        Dispatch.from_json(json.dumps({"zlib": "not base64!"}))


@pytest.mark.parametrize(("given", "transport", "engine", "voices"), [
    ({}, "local", "offline", "auto"),
    ({}, "livekit", "offline", "espeak"),  # rooms run in real time: Piper voices on 2 cores fell behind it
    ({"tts": "auto"}, "livekit", "offline", "auto"),
    ({}, "livekit", "openai-pipeline", "auto"),
])
def test_rooms_speak_with_espeak_unless_told(given, transport, engine, voices):
    cfg = RunConfig.build(transport=transport, engine=engine, **given)
    assert cfg.tts == voices and cfg.engine_spec.tts == voices
    assert RunConfig.from_recorded(cfg.recorded(), Path("."), relative_library=True).tts == voices
