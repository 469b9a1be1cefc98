"""The impairment stages: what a noisy room, a telephone line and a lossy network do to a track.

`--impair noise:snr=15`, `--impair phone`, `--impair loss:0.03`, combinable. Each is a small class
with one `apply(pcm, rate, rng)`; they run in the order sound travels, whatever order they were
given in: noise at the speaker's end, then the phone channel, then the network with the
receiver's concealment. Every role's track is impaired on its own (its own room, its own RTP
stream), seeded from the conversation's seed and the role, so a run impaired twice is the same.
Filters are zero-phase and no stage adds delay: the transcript's turn times hold for the impaired
audio too. The clean tracks are never touched (docs/FORMAT.md, `impaired/`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..runfolder import SILENT
from ..runfolder.audio import ffmpeg_exe

FRAME_MS = 20  # an RTP packet of telephone audio, and the unit speech activity is measured in
NOISE_KINDS = ("pink", "brown", "white", "babble")
USAGE = "phone, noise:snr=DB[,kind=pink|brown|white|babble] or loss:RATE (e.g. loss:0.03)"


def speech_frames(x: np.ndarray, rate: int) -> np.ndarray:
    """Which 20 ms frames of a clean track hold speech (any sample above the contract's silence)."""
    n = rate * FRAME_MS // 1000
    frames = len(x) // n
    loud = np.abs(x[: frames * n]) > SILENT / 32768
    return loud.reshape(frames, n).any(axis=1)


def active_power(x: np.ndarray, rate: int) -> float:
    """The mean power of the speech: over the 20 ms frames that hold it (a simple active speech
    level; the silences between a role's turns would otherwise lower it)."""
    n = rate * FRAME_MS // 1000
    act = speech_frames(x, rate)
    if not act.any():
        return 0.0
    return float(np.mean(x[: len(act) * n].reshape(len(act), n)[act] ** 2))


class Impairment:
    name: ClassVar[str]
    order: ClassVar[int]  # where it sits on the way from mouth to ear

    def spec(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError

    def apply(self, x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int, dict]:
        """`x` as floats in [-1, 1] at `rate`: the impaired samples, their rate, and the facts
        drawn for this track (recorded in meta.json)."""
        raise NotImplementedError


@dataclass
class Noise(Impairment):
    """Background noise at a signal-to-noise ratio over the active speech. The noise is
    synthesized here from the seed (no recording: nothing to license), shaped in the frequency
    domain (pink 1/f, brown 1/f^2, white), or babble-like: six speech-band noises with syllabic
    (2-6 Hz) envelopes, like talkers in a room. If speech plus noise would clip, both are scaled
    down together (the SNR stays; `gain_db` says by how much)."""

    snr_db: float
    kind: str = "pink"
    name: ClassVar[str] = "noise"
    order: ClassVar[int] = 0

    def spec(self) -> str:
        return f"noise:snr={self.snr_db:g}" + (f",kind={self.kind}" if self.kind != "pink" else "")

    def describe(self) -> dict:
        return {"name": "noise", "kind": self.kind, "snr_db": self.snr_db, "synthesized": True,
                "speech_level": f"mean power of the {FRAME_MS} ms frames with speech"}

    def apply(self, x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int, dict]:
        speech = active_power(x, rate)
        if speech == 0.0:
            return x, rate, {"snr_db": None, "gain_db": 0.0}
        noise = _noise(self.kind, len(x), rate, rng)
        noise *= np.sqrt(speech / 10 ** (self.snr_db / 10) / np.mean(noise ** 2))
        y = x + noise
        peak = float(np.max(np.abs(y)))
        gain = min(1.0, 0.98 / peak) if peak > 0 else 1.0
        return y * gain, rate, {"snr_db": self.snr_db, "gain_db": round(20 * np.log10(gain), 3)}


def _shaped(n: int, rng: np.random.Generator, beta: float) -> np.ndarray:
    """Gaussian noise with a 1/f**beta power spectrum."""
    from scipy import fft

    m = fft.next_fast_len(n, real=True)  # a length with small factors: 60 s at 24 kHz may be near prime
    spec = fft.rfft(rng.standard_normal(m))
    f = fft.rfftfreq(m)
    spec[0] = 0
    spec[1:] /= f[1:] ** (beta / 2)
    return fft.irfft(spec, m)[:n]


def _noise(kind: str, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import signal

    if kind != "babble":
        return _shaped(n, rng, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
    out = np.zeros(n)
    slow = np.arange(n) / rate * 100  # the talkers' envelopes, drawn at 100 Hz and interpolated
    for _ in range(6):
        syllables = signal.butter(2, rng.uniform(2, 6), "lowpass", fs=100, output="sos")
        envelope = np.abs(signal.sosfilt(syllables, rng.standard_normal(int(slow[-1]) + 2)))
        out += _shaped(n, rng, 1.0) * np.interp(slow, np.arange(len(envelope)), envelope) / (np.mean(envelope) or 1)
    # the band is applied once to the sum: the envelopes are slow enough for it to commute
    return signal.sosfilt(signal.butter(4, [200, min(4000, rate * 0.45)], "bandpass", fs=rate, output="sos"), out)
    return out


@dataclass
class Phone(Impairment):
    """A narrowband telephone channel: 8 kHz, the 300-3400 Hz band, G.711 mu-law. The band is a
    Butterworth band-pass applied forward and backward (zero phase, 8th order each way); the codec
    round trip is ffmpeg's pcm_mulaw (the ffmpeg of the imageio-ffmpeg wheel, already used for
    the MP3 mix)."""

    name: ClassVar[str] = "phone"
    order: ClassVar[int] = 1
    RATE: ClassVar[int] = 8000
    BAND: ClassVar[tuple[int, int]] = (300, 3400)

    def spec(self) -> str:
        return "phone"

    def describe(self) -> dict:
        return {"name": "phone", "sample_rate": self.RATE, "band_hz": list(self.BAND),
                "filter": "Butterworth band-pass, order 8, zero phase", "codec": "G.711 mu-law (ffmpeg pcm_mulaw)"}

    def apply(self, x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int, dict]:
        from math import gcd

        from scipy import signal

        g = gcd(rate, self.RATE)
        y = signal.resample_poly(x, self.RATE // g, rate // g)
        y = signal.sosfiltfilt(signal.butter(8, self.BAND, "bandpass", fs=self.RATE, output="sos"), y)
        return mulaw_round_trip(y), self.RATE, {}


def mulaw_round_trip(x: np.ndarray) -> np.ndarray:
    """Encode 8 kHz floats to G.711 mu-law bytes and decode them again, with ffmpeg."""
    pcm = (np.clip(x, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
    def ffmpeg(fmt_in: str, data: bytes, *to: str) -> bytes:
        cmd = [ffmpeg_exe(), "-v", "error", "-f", fmt_in, "-ar", "8000", "-ac", "1", "-i", "-", *to, "-"]
        return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout

    decoded = ffmpeg("mulaw", ffmpeg("s16le", pcm, "-c:a", "pcm_mulaw", "-f", "mulaw"), "-f", "s16le")
    y = np.frombuffer(decoded, dtype="<i2").astype(np.float64) / 32768
    if len(y) != len(x):
        raise RuntimeError(f"G.711 round trip changed the length ({len(x)} -> {len(y)} samples)")
    return y


@dataclass
class Loss(Impairment):
    """Packet loss in 20 ms frames (independent, at `rate`), concealed as a jitter buffer's PLC
    does (after ITU-T G.711 Appendix I): a lost frame is filled with the last frame received,
    repeated, at full level for the first 10 ms of the gap, then faded out linearly to silence
    60 ms into it; the first received frame after a gap is cross-faded in over 5 ms."""

    rate: float
    name: ClassVar[str] = "loss"
    order: ClassVar[int] = 2

    def spec(self) -> str:
        return f"loss:{self.rate:g}"

    def describe(self) -> dict:
        return {"name": "loss", "rate": self.rate, "frame_ms": FRAME_MS, "model": "independent (Bernoulli) per frame",
                "concealment": "repeat the last received frame; full level for 10 ms, faded to silence at 60 ms; "
                               "5 ms cross-fade back"}

    def apply(self, x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int, dict]:
        n = rate * FRAME_MS // 1000
        frames = -(-len(x) // n)
        lost = rng.random(frames) < self.rate
        padded = np.concatenate([x, np.zeros(frames * n - len(x))])
        out = padded.copy()
        t_ms = np.arange(n) * 1000 / rate
        run = 0
        for k in range(frames):
            if lost[k]:
                last = padded[(k - run - 1) * n:(k - run) * n] if k - run > 0 else np.zeros(n)
                gap_ms = run * FRAME_MS + t_ms
                out[k * n:(k + 1) * n] = last * np.clip(1 - (gap_ms - 10) / 50, 0, 1)
                run += 1
            elif run:  # cross-fade from the continued concealment into the received frame
                fade = rate * 5 // 1000
                w = np.linspace(0, 1, fade, endpoint=False)
                last = padded[(k - run - 1) * n:(k - run) * n] if k - run > 0 else np.zeros(n)
                tail = last[:fade] * np.clip(1 - (run * FRAME_MS + t_ms[:fade] - 10) / 50, 0, 1)
                out[k * n:k * n + fade] = tail * (1 - w) + padded[k * n:k * n + fade] * w
                run = 0
        idx = np.flatnonzero(lost)
        return out[:len(x)], rate, {"frames": int(frames), "lost_frames": idx.tolist(),
                                    "share": round(len(idx) / frames, 4) if frames else 0.0}


KINDS: dict[str, type[Impairment]] = {"noise": Noise, "phone": Phone, "loss": Loss}


def parse(specs: list[str], flag: str = "--impair") -> list[Impairment]:  # noqa: C901
    """`--impair` values as the chain to apply, in the order sound travels; a bad spelling is a
    ValueError naming the flag and the value."""
    chain: dict[str, Impairment] = {}
    for spec in specs:
        name, _, arg = spec.strip().partition(":")
        bad = f"{flag} {spec!r}"
        if name not in KINDS:
            raise ValueError(f"{bad}: unknown impairment (choose from {USAGE})")
        if name in chain:
            raise ValueError(f"{bad}: {name} is given twice")
        if name == "phone":
            if arg:
                raise ValueError(f"{bad}: phone takes no parameters")
            chain[name] = Phone()
        elif name == "loss":
            try:
                rate = float(arg)
            except ValueError:
                raise ValueError(f"{bad}: expected loss:RATE with RATE a fraction, e.g. loss:0.03") from None
            if not 0 < rate <= 0.5:
                raise ValueError(f"{bad}: the loss rate must be above 0 and at most 0.5")
            chain[name] = Loss(rate)
        else:
            params = dict(p.partition("=")[::2] for p in arg.split(",") if p)
            unknown = set(params) - {"snr", "kind"}
            if unknown or "snr" not in params:
                raise ValueError(f"{bad}: expected noise:snr=DB[,kind={'|'.join(NOISE_KINDS)}], e.g. noise:snr=15")
            try:
                snr = float(params["snr"])
            except ValueError:
                raise ValueError(f"{bad}: snr must be a number of dB") from None
            if not -10 <= snr <= 60:
                raise ValueError(f"{bad}: snr must be between -10 and 60 dB")
            if params.get("kind", "pink") not in NOISE_KINDS:
                raise ValueError(f"{bad}: kind must be one of {', '.join(NOISE_KINDS)}")
            chain[name] = Noise(snr, params.get("kind", "pink"))
    return sorted(chain.values(), key=lambda i: i.order)


__all__ = ["FRAME_MS", "KINDS", "NOISE_KINDS", "Impairment", "Loss", "Noise", "Phone", "active_power", "parse",
           "speech_frames"]
