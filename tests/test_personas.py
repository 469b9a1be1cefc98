"""Drawn personas: seeded, valid, within the role's axes, carried by the plan, recorded in meta.json."""

import json

import pytest
from conftest import cli, one_line_error, read_jsonl

from synthconv.engine.offline.tts import Espeak
from synthconv.job import Job, plan
from synthconv.personas import OPENAI_VOICES, SHARED_GAP, draw
from synthconv.runfolder import read_run_info
from synthconv.scenario import Axes, Persona, load_library


def test_same_seed_same_drawn_personas_and_another_seed_others():
    lib = load_library()
    a, b = plan(lib, 60, seed=4, personas="sampled"), plan(lib, 60, seed=4, personas="sampled")
    assert a == b and [j.personas for j in a] == [j.personas for j in b]
    other = plan(lib, 60, seed=5, personas="sampled")
    assert not {p for j in a for p in j.roles.values()} & {p for j in other for p in j.roles.values()}


def test_drawn_personas_validate_and_speak_the_scenario_with_an_existing_voice():
    lib = load_library()
    jobs = plan(lib, 120, seed=9, personas="sampled")
    ids, voices = set(), set()
    for j in jobs:
        sc = lib.scenarios[j.scenario]
        for role, p in j.cast(lib).items():
            assert Persona.model_validate(p.model_dump()) == p and p.id == j.roles[role]
            assert p.roles == [role] and p.language == sc.language
            assert lib.locales[p.locale].language == sc.language
            voices.add(p.voice.offline.voice)
            assert p.style.mood in (sc.roles[role].sample.mood or [p.style.mood])
            ids.add(p.id)
    assert len(ids) == 240  # a new speaker every time
    espeak = Espeak.get()
    assert all(espeak.has_voice(v) for v in voices), voices


def test_axes_constrain_the_draw():
    lib = load_library()
    sc = lib.scenarios["refund"]
    axes = Axes(locales=["en-GB"], genders=["female"], ages=["65+"], mood=["anxious"], pace=["slow"])
    roles = {**sc.roles, "customer": sc.roles["customer"].model_copy(update={"sample": axes})}
    sc = sc.model_copy(update={"roles": roles})
    for i in range(30):
        p = draw(lib, sc, "customer", str(i))
        assert (p.locale, p.gender, p.age, p.style.mood, p.style.pace) == ("en-GB", "female", "65+", "anxious", "slow")
        assert p.voice.offline.voice.split("+")[1].startswith("f") and p.name.split()[0] in lib.locales["en-GB"].female
        assert 100 <= p.voice.offline.rate <= 160


def test_files_mode_is_the_plan_of_persona_files_and_mixed_takes_some_of_each():
    lib = load_library()
    files = plan(lib, 40, seed=3, personas="files")
    assert files == plan(lib, 40, seed=3) and all("personas" not in j.to_dict() for j in files)
    assert all(p in lib.personas for j in files for p in j.roles.values())
    mixed = [p for j in plan(lib, 80, seed=3, personas="mixed") for p in j.roles.values()]
    from_files = sum(p in lib.personas for p in mixed)
    assert 0.1 < from_files / len(mixed) < 0.4


def test_a_job_round_trips_through_run_json_with_its_drawn_personas():
    lib = load_library()
    job = plan(lib, 1, seed=2, personas="sampled")[0]
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again == job and again.cast(lib) == job.cast(lib)


def test_a_run_records_its_drawn_personas_in_run_json_and_meta_json(offline_run):
    info = read_run_info(offline_run)
    assert info["flags"]["personas"] == "sampled"
    ok = {r["id"] for r in read_jsonl(offline_run / "conversations.jsonl") if r["status"] == "ok"}
    assert ok
    for job in info["jobs"]:
        if job["id"] in ok:
            meta = json.loads((offline_run / "conversations" / job["id"] / "meta.json").read_text())
            assert meta["personas"] == job["personas"]
            turns = read_jsonl(offline_run / "conversations" / job["id"] / "transcript.jsonl")
            assert {t["speaker"] for t in turns} == {p["name"] for p in job["personas"].values()}


@pytest.mark.parametrize("args, needle", [(("--personas", "some"), "--personas"),
                                          (("--personas", "files", "--scenarios-dir", "{nofiles}"), "no persona file")])
def test_bad_personas_flag_or_empty_pool_is_one_line(tmp_path, args, needle):
    sc = tmp_path / "sc"
    sc.mkdir()
    text = (load_library.__globals__["DEFAULT_SCENARIOS"] / "refund.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("    personas: [cust-")]
    (sc / "refund.yaml").write_text("\n".join(lines) + "\n")
    args = [a.replace("{nofiles}", str(sc)) for a in args]
    one_line_error(cli("generate", "--count", "1", "--out", str(tmp_path / "o"), *args), needle)


def test_drawn_english_personas_speak_with_the_shipped_neural_voice_and_hindi_with_espeak():
    """The default catalog has one neural voice, en_US-joe-medium (male, en-US): every drawn
    English speaker speaks with it, as an en-US man; both roles share it, pitch-shifted apart."""
    lib = load_library()
    jobs = plan(lib, 80, seed=6, personas="sampled")
    english = hindi = 0
    for j in jobs:
        cast = j.cast(lib)
        if lib.scenarios[j.scenario].language == "hi":
            hindi += 1
            assert all(p.voice.piper is None for p in cast.values())
            continue
        english += 1
        a, b = cast.values()
        for p in (a, b):
            assert (p.voice.piper.voice, p.gender, p.locale) == ("en_US-joe-medium", "male", "en-US")
            assert p.name.split()[0] in lib.locales["en-US"].male
        assert abs(a.voice.piper.pitch - b.voice.piper.pitch) >= SHARED_GAP[0]  # told apart
    assert english > 50 and hindi > 3


def test_two_roles_never_share_a_voice_while_the_catalog_has_another(tmp_path):
    import piper_model

    from synthconv.voices import Catalog

    piper_model.build(tmp_path, facts={"piper": {"en_US-tiny": {"speakers": {
        "alice": {"gender": "female"}, "bob": {"gender": "male"}, "carol": {"gender": "female"}}}}})
    lib = load_library()
    catalog = Catalog.load([tmp_path])
    jobs = plan(lib, 60, seed=8, personas="sampled", catalog=catalog)
    genders = set()
    for j in (j for j in jobs if lib.scenarios[j.scenario].language == "en"):
        cast = list(j.cast(lib).values())
        voices = [p.voice.piper.voice for p in cast]
        assert len(set(voices)) == 2, voices
        for p in cast:
            v = catalog.get(p.voice.piper.voice)
            assert p.gender == v.gender and p.locale == v.locale  # a woman's name, a woman's voice
            genders.add(p.gender)
    assert genders == {"female", "male"}


def test_a_scenario_that_asks_for_what_the_catalog_lacks_gets_espeak():
    lib = load_library()
    sc = lib.scenarios["refund"]
    roles = {**sc.roles, "customer": sc.roles["customer"].model_copy(update={"sample": Axes(genders=["female"])})}
    sc = sc.model_copy(update={"roles": roles})
    from synthconv.voices import Catalog

    for i in range(10):
        p = draw(lib, sc, "customer", str(i), Catalog.load())
        assert p.gender == "female" and p.voice.piper is None and "+f" in p.voice.offline.voice


def test_a_catalog_file_names_the_voices_of_an_openai_compatible_server(tmp_path):
    from synthconv.voices import Catalog

    (tmp_path / "voices.yaml").write_text("openai:\n  - {name: af_bella, gender: female, language: en}\n"
                                          "  - {name: am_adam, gender: male, language: en}\n")
    lib = load_library()
    catalog = Catalog.load([tmp_path])
    for j in plan(lib, 30, seed=2, personas="sampled", catalog=catalog):
        for p in j.cast(lib).values():
            if p.language == "en":
                assert p.voice.openai == {"female": "af_bella", "male": "am_adam"}[p.gender]
            else:
                assert p.voice.openai in OPENAI_VOICES[p.gender]  # the server speaks English only
