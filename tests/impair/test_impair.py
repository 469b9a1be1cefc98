"""Impairments: the impaired copies are what they claim (8 kHz and the telephone band, the SNR
asked for, the share of lost frames), the clean tracks stay, and meta.json says what was done."""

import hashlib
import json
import os
import shutil
import signal as signals
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, one_line_error, read_jsonl, start
from scipy import signal

from synthconv.runfolder import RunLock, read_wav

FIXTURE = Path(__file__).resolve().parents[1] / "export" / "lhotse_fixture" / "run"  # 4 conversations of about a second


def _hashes(run) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.glob("conversations/*/tracks/*.wav"))}


@pytest.fixture(scope="module")
def impaired(offline_run, tmp_path_factory):
    """`synthconv impair` on copies of the shared offline run, one per chain."""
    made = {}

    def make(*specs: str):
        if specs not in made:
            run = tmp_path_factory.mktemp("impair") / "run"
            shutil.copytree(offline_run, run)
            before = _hashes(run)
            args = [a for s in specs for a in ("--impair", s)]
            proc = cli("impair", str(run), *args, "-j", "2")
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert _hashes(run) == before, "the clean tracks changed"
            made[specs] = run
        return made[specs]
    return make


def _pairs(run):
    """(meta, role, clean float samples at 24 kHz, impaired float samples, impaired rate) per track."""
    for folder in sorted(p for p in (run / "conversations").iterdir() if p.is_dir()):
        meta = json.loads((folder / "meta.json").read_text())
        for role in meta["personas"]:
            clean, _ = read_wav(folder / "tracks" / f"{role}.wav")
            noisy, rate = read_wav(folder / "impaired" / f"{role}.wav")
            yield meta, role, clean / 32768, noisy / 32768, rate


def _psd(x, rate):
    return signal.welch(x, fs=rate, nperseg=rate // 8)


def _band(psd, lo, hi):
    f, p = psd
    return p[(f >= lo) & (f < hi)].mean()


def test_phone_is_8khz_band_limited_and_mulaw(impaired):
    run = impaired("phone")
    pairs = list(_pairs(run))
    assert len(pairs) == 6
    for meta, role, clean, phone, rate in pairs:
        assert rate == 8000 and abs(len(phone) / 8000 - meta["duration_s"]) < 0.001
        assert meta["impaired"]["spec"] == ["phone"] and meta["impaired"]["sample_rate"] == 8000
        assert meta["impaired"]["chain"][0]["band_hz"] == [300, 3400]
        # power spectral densities compared at the same frequencies: speech kept in the band,
        # strongly attenuated below it and at its top; the clean track has plenty there
        # (measured: in band within 0.3 dB, below 200 Hz -29 to -40 dB, 3.7-4 kHz -15 to -22 dB: the
        # floor is G.711's own quantization noise, white over 0-4 kHz)
        p, c = _psd(phone, 8000), _psd(clean, 24000)
        inband, low, high = (10 * np.log10(_band(p, lo, hi) / _band(c, lo, hi))
                             for lo, hi in ((500, 3000), (0, 200), (3700, 4000)))
        print(f"phone {role}: in band {inband:+.1f} dB, below 200 Hz {low:+.1f} dB, 3.7-4 kHz {high:+.1f} dB")
        assert abs(inband) < 1, (role, inband)
        assert low < -25 and high < -10, (role, low, high)
        # G.711 mu-law: every sample is one of its 255 levels (at most 256 distinct values)
        assert len(np.unique(np.round(phone * 32768))) <= 256


def _snr(clean, noisy, gain_db, rate=24000):
    """The SNR over the active speech (20 ms frames with a sample above -54 dBFS), measured here."""
    speech = clean * 10 ** (gain_db / 20)
    noise = noisy - speech
    n = rate // 50
    frames = speech[: len(speech) // n * n].reshape(-1, n)
    active = (np.abs(clean[: len(speech) // n * n].reshape(-1, n)) > 64 / 32768).any(axis=1)
    return 10 * np.log10(np.mean(frames[active] ** 2) / np.mean(noise ** 2))


def test_noise_is_at_the_stated_snr(impaired, kind="pink"):
    run = impaired("noise:snr=15")
    spectra = []
    for meta, role, clean, noisy, rate in _pairs(run):
        assert rate == 24000 and len(noisy) == len(clean)
        drawn = meta["impaired"]["roles"][role]["noise"]
        assert meta["impaired"]["chain"][0]["kind"] == kind
        snr = _snr(clean, noisy, drawn["gain_db"])
        assert abs(snr - 15) < 1, (role, snr)
        quiet = np.abs(clean) == 0  # between this role's turns: the noise alone is heard
        assert np.std(noisy[quiet]) > 1e-3
        print(f"noise {kind} {role}: SNR {snr:.2f} dB")
        psd = _psd(noisy[quiet], 24000)
        spectra.append(_band(psd, 50, 200) / _band(psd, 2000, 4000))
    assert min(spectra) > 10  # pink: far more power at low frequencies than white noise has


def test_loss_drops_the_stated_share_and_conceals_it(impaired):
    run = impaired("loss:0.03")
    lost_total = frames_total = 0
    for meta, role, clean, out, rate in _pairs(run):
        drawn = meta["impaired"]["roles"][role]["loss"]
        n = rate // 50  # 20 ms frames
        lost = set(drawn["lost_frames"])
        lost_total, frames_total = lost_total + len(lost), frames_total + drawn["frames"]
        assert drawn["frames"] == -(-len(clean) // n)
        for k in range(drawn["frames"]):
            a, b = k * n, min(len(clean), (k + 1) * n)
            if k in lost:
                if k - 1 not in lost and k > 0:  # first 10 ms of a gap: the last frame received, repeated
                    m = min(n // 2, len(out) - a)  # the track's last frame can be shorter
                    np.testing.assert_allclose(out[a:a + m], clean[a - n:a - n + m], atol=1 / 32768)
                if np.abs(clean[a:b]).max() > 0.05 and not np.allclose(clean[a:b], clean[a - n:b - n], atol=0.01):
                    assert not np.allclose(out[a:b], clean[a:b], atol=0.01), (role, k)
            elif k - 1 not in lost:  # received, and not cross-faded from a gap: untouched
                np.testing.assert_allclose(out[a:b], clean[a:b], atol=1 / 32768)
    print(f"loss: {lost_total} of {frames_total} frames ({lost_total / frames_total:.4f})")
    assert abs(lost_total / frames_total - 0.03) < 0.01, lost_total / frames_total


def test_impair_again_replaces_the_earlier_copies_and_skips_a_broken_one(impaired, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(impaired("phone"), run)
    assert cli("impair", str(run), "--impair", "loss:0.05", "-j", "1").returncode == 0
    for meta, _role, _clean, _out, rate in _pairs(run):
        assert meta["impaired"]["spec"] == ["loss:0.05"] and rate == 24000
    assert not list(run.glob("conversations/*/.impaired.tmp"))
    assert cli("inspect", str(run), "--validate").returncode == 0
    broken = sorted(run.glob("conversations/*/tracks/*.wav"))[0]
    broken.unlink()
    proc = cli("impair", str(run), "--impair", "phone", "-j", "1")
    assert proc.returncode == 1 and f"skipped {broken.parent.parent.name}: tracks/{broken.name} missing" in proc.stderr
    assert "impaired 2 conversations" in proc.stdout


def test_bad_spellings_name_the_flag(impaired, tmp_path):
    run = impaired("phone")
    for spec in ("phone:x", "noise", "noise:snr=loud", "noise:snr=15,kind=purple", "loss:1.5", "loss:x", "echo"):
        one_line_error(cli("impair", str(run), "--impair", spec), "--impair", spec)
    one_line_error(cli("impair", str(run), "--impair", "loss:0.1", "--impair", "loss:0.2"), "given twice")
    one_line_error(cli("impair", str(tmp_path / "nothing"), "--impair", "phone"), "run.json")
    out = tmp_path / "never"
    one_line_error(cli("generate", "--count", "1", "--out", str(out), "--impair", "noise:snr=x"), "--impair")
    assert not out.exists()


def test_generate_impairs_as_it_writes_and_exports_either_audio(tmp_path):
    out = tmp_path / "run"
    proc = cli("generate", "--count", "1", "--seed", "3", "--out", str(out), "--impair", "loss:0.03",
               "--impair", "phone", "--impair", "noise:snr=20")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "run.json").read_text())["flags"]["impair"] == ["noise:snr=20", "phone", "loss:0.03"]
    (cid,) = [r["id"] for r in read_jsonl(out / "conversations.jsonl")]
    folder = out / "conversations" / cid
    meta = json.loads((folder / "meta.json").read_text())
    assert [c["name"] for c in meta["impaired"]["chain"]] == ["noise", "phone", "loss"]
    assert (folder / "impaired" / "mix.mp3").stat().st_size > 1000
    assert cli("inspect", str(out), "--validate").returncode == 0
    for audio, rate in (("clean", 24000), ("impaired", 8000)):
        ds = tmp_path / audio
        proc = cli("export", str(out), "--out", str(ds), "-f", "nemo", "--audio", audio, "--split", "100/0/0")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (line, *_) = read_jsonl(next((ds / "nemo").glob("asr_*_train.jsonl")))
        _, got = read_wav(ds / "nemo" / line["audio_filepath"])
        assert got == rate
    one_line_error(cli("export", str(out), "--out", str(tmp_path / "x"), "--audio", "noisy"), "--audio")


# --- issue 24, items 12-14: a killed impair, mixed chains, tracks that are not tracks -----------


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _chains(run) -> dict[str, list | None]:
    return {f.name: (json.loads((f / "meta.json").read_text()).get("impaired") or {}).get("spec")
            for f in sorted((run / "conversations").iterdir()) if f.is_dir()}


def test_a_killed_reimpair_frees_the_run_and_validate_finds_the_mixed_chains(impaired, tmp_path):
    """SIGKILL mid-way: the pool workers die with it (none holds the run lock afterwards), the
    conversations not yet done keep the old chain, `inspect --validate` names them against the
    chain run.json records, and impairing again finishes the run."""
    run = tmp_path / "run"
    shutil.copytree(impaired("phone"), run)
    proc = start("impair", str(run), "--impair", "loss:0.05", "-j", "1")
    workers, deadline = set(), time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        if ["loss:0.05"] in _chains(run).values():
            break
        time.sleep(0.02)
    assert proc.poll() is None, "impair ended before it could be killed: " + proc.stderr.read()
    assert workers
    os.kill(proc.pid, signals.SIGKILL)  # the impair alone, as the OOM killer would
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = [w for w in workers if _alive(w)]
    for w in orphans:  # a failing run of this test leaves nothing behind either
        os.kill(w, signals.SIGKILL)
    assert not orphans, "a pool worker outlived its impair"
    RunLock(run).acquire().release()  # nobody holds the run
    chains = _chains(run)
    assert ["loss:0.05"] in chains.values() and ["phone"] in chains.values()
    proc = cli("inspect", str(run), "--validate")
    assert proc.returncode == 1
    assert "impaired with phone, not the run's loss:0.05 (run.json flags.impair)" in proc.stdout + proc.stderr
    assert cli("impair", str(run), "--impair", "loss:0.05", "-j", "2").returncode == 0
    assert set(map(tuple, _chains(run).values())) == {("loss:0.05",)}
    assert not list(run.glob("conversations/*/.impaired.tmp"))
    assert cli("inspect", str(run), "--validate").returncode == 0


def test_tracks_that_are_not_tracks_are_one_line_each(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    conv = {p.name: p for p in (run / "conversations").iterdir()}
    (conv["appointment-booking-1a2b3c4d"] / "tracks" / "agent.wav").write_text("not audio\n")
    truncated = conv["bank-card-block-hi-9c0d1e2f"] / "tracks" / "customer.wav"
    truncated.write_bytes(truncated.read_bytes()[:30])
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (conv["refund-request-3a4b5c6d"] / "impaired").symlink_to(outside)
    proc = cli("impair", str(run), "--impair", "phone", "-j", "2")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "Aborted" not in proc.stderr, proc.stderr
    lines = sorted(x for x in proc.stderr.splitlines() if x.strip())
    assert len(lines) == 3, lines
    assert lines[0].startswith("skipped appointment-booking-1a2b3c4d: ") and "tracks/agent.wav: not a readable WAV file" in lines[0]
    assert lines[1].startswith("skipped bank-card-block-hi-9c0d1e2f: ") and "tracks/customer.wav: not a readable WAV" in lines[1]
    assert lines[2].startswith("skipped refund-request-3a4b5c6d: ") and "impaired: a symbolic link" in lines[2]
    assert "impaired 1 conversations" in proc.stdout
    assert [p.name for p in outside.iterdir()] == ["keep.txt"]  # nothing written through the link
    assert _chains(run)["wrong-delivery-address-5e6f7a8b"] == ["phone"]
