"""Bad input: one line naming the problem, exit code 2, nothing written."""

from pathlib import Path

from conftest import cli, one_line_error


def test_unknown_scenario(tmp_path):
    out = tmp_path / "run"
    one_line_error(cli("generate", "--scenario", "nope", "--out", str(out)), "--scenario", "nope")
    assert not out.exists()


def test_unknown_persona(tmp_path):
    out = tmp_path / "run"
    one_line_error(cli("generate", "--persona", "ghost", "--out", str(out)), "--persona", "ghost")
    assert not out.exists()


def test_count_zero(tmp_path):
    out = tmp_path / "run"
    one_line_error(cli("generate", "--count", "0", "--out", str(out)), "--count")
    assert not out.exists()


def test_malformed_yaml(tmp_path):
    sc = tmp_path / "sc"
    sc.mkdir()
    (sc / "broken.yaml").write_text("id: x\n  title: : [\n")
    out = tmp_path / "run"
    one_line_error(cli("generate", "--scenarios-dir", str(sc), "--out", str(out)), "broken.yaml")
    assert not out.exists()


def test_missing_field(tmp_path):
    sc = tmp_path / "sc"
    sc.mkdir()
    text = (Path(__file__).resolve().parents[2] / "scenarios" / "refund.yaml").read_text()
    (sc / "refund.yaml").write_text(text.replace("first_speaker:", "first_speakr:"))
    one_line_error(cli("scenarios", "--scenarios-dir", str(sc)), "refund.yaml", "first_speaker")


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(cli("generate", "--count", "1", "--out", str(blocker / "run")), "--out")


def test_non_empty_out_is_refused(tmp_path):
    (tmp_path / "something").write_text("keep me")
    one_line_error(cli("generate", "--count", "1", "--out", str(tmp_path)), "--out", "not empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]


def test_scenarios_and_personas_list_the_library():
    proc = cli("scenarios")
    assert proc.returncode == 0 and "billing-dispute" in proc.stdout and "load-offer" in proc.stdout
    proc = cli("personas")
    assert proc.returncode == 0 and "cust-raj-sharma" in proc.stdout and "dispatcher-tim" in proc.stdout
