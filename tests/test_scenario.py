import re
from pathlib import Path

import pytest

from synthconv.scenario import DEFAULT_PERSONAS, DEFAULT_SCENARIOS, LibraryError, draw_facts, load_library


def test_starter_library_is_complete_and_valid():
    lib = load_library()
    support = {s.id for s in lib.scenarios.values() if s.domain == "customer-support"}
    freight = {s.id for s in lib.scenarios.values() if s.domain == "freight-dispatch"}
    assert {"billing-dispute", "password-reset", "late-delivery", "refund", "plan-change", "outage",
            "fraud-alert", "cancellation"} <= support
    assert {"load-offer", "delay-report", "rate-negotiation", "breakdown"} <= freight

    def playing(role):
        return [p for p in lib.personas.values() if role in p.roles]

    assert len(playing("customer")) >= 12 and len(playing("agent")) >= 6
    assert len(playing("dispatcher")) >= 3 and len(playing("driver")) >= 3
    names = {p.name for p in lib.personas.values()}
    assert {"राज शर्मा", "फ़ैज़ान"} <= names
    assert any(n.startswith("Tim") for n in names) and any(n.startswith("Chris") for n in names)
    hindi = [p for p in lib.personas.values() if p.language == "hi"]
    assert hindi and all(p.voice.offline.voice.startswith("hi") for p in hindi)


def _copy_library(tmp_path: Path) -> tuple[Path, Path]:
    sc, pe = tmp_path / "scenarios", tmp_path / "personas"
    sc.mkdir(), pe.mkdir()
    for src, dst in ((DEFAULT_SCENARIOS, sc), (DEFAULT_PERSONAS, pe)):
        for f in src.glob("*.yaml"):
            (dst / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return sc, pe


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    sc, pe = _copy_library(tmp_path)
    (sc / "refund.yaml").write_text("id: refund\ntitle: [unclosed\n")
    with pytest.raises(LibraryError, match=r"refund\.yaml: line \d+ malformed YAML"):
        load_library(sc, pe)


def test_missing_field_names_the_file_and_field(tmp_path):
    sc, pe = _copy_library(tmp_path)
    text = (pe / "cust-maria-lopez.yaml").read_text().replace("locale: en-US\n", "")
    (pe / "cust-maria-lopez.yaml").write_text(text)
    with pytest.raises(LibraryError, match=r"cust-maria-lopez\.yaml: field locale: Field required"):
        load_library(sc, pe)


def test_unknown_persona_in_a_pool_is_named(tmp_path):
    sc, pe = _copy_library(tmp_path)
    (pe / "cust-maria-lopez.yaml").unlink()
    with pytest.raises(LibraryError, match=r"roles\.customer\.personas: unknown persona 'cust-maria-lopez'"):
        load_library(sc, pe)


def test_unknown_placeholder_is_named(tmp_path):
    sc, pe = _copy_library(tmp_path)
    text = (sc / "billing-dispute.yaml").read_text().replace("Sure, it's {account}.", "Sure, {nope}.")
    (sc / "billing-dispute.yaml").write_text(text)
    with pytest.raises(LibraryError, match=r"billing-dispute\.yaml: .*unknown placeholder \{nope\}"):
        load_library(sc, pe)


def test_shared_facts_draw_the_same_value_for_both_roles():
    sc = load_library().scenarios["billing-dispute"]
    draws = {draw_facts(sc, seed)["agent"]["company"] for seed in range(20)}
    assert len(draws) > 1  # listed facts vary between conversations
    assert draw_facts(sc, 3) == draw_facts(sc, 3)


def test_ids_are_drawn_afresh_in_the_shape_of_the_listed_ones():
    from synthconv.scenario import fresh_digits

    sc = load_library().scenarios["refund"]
    numbers = {draw_facts(sc, seed)["customer"]["order_number"] for seed in range(40)}
    assert len(numbers) > 20  # not one of the four listed
    for n in numbers:  # "RE-448190" or "3307 5521": same letters, separators and digit count
        assert re.fullmatch(r"(RE|NG)-\d{6}|\d{4} \d{4}", n), n
    assert fresh_digits("MC 752301", 5) == fresh_digits("MC 752301", 5) != fresh_digits("MC 752301", 6)
    # amounts, small counts and years stay as written
    for kept in ["$1,250.00", "₹1499", "December 12th 1993", "about 300 homes", "2.5%"]:
        assert fresh_digits(kept, 3) == kept
