"""The local bridge's own parts, in this process: its resampler keeps every segment's length
and pitch (the timestamps are computed from sample counts, so a resampler that drifts would
move every later turn)."""

import numpy as np

from synthconv.transport.local_io import SAMPLE_RATE
from synthconv.transport.local_io import resample as _resample


def test_resampling_keeps_length_and_pitch():
    rate = 22050  # espeak-ng's
    t = np.arange(int(1.37 * rate)) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    out = _resample(tone, rate)
    assert out.dtype == np.int16
    assert abs(len(out) - round(len(tone) * SAMPLE_RATE / rate)) <= 1
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64) * np.hanning(len(out))))
    peak = np.argmax(spectrum) * SAMPLE_RATE / len(out)
    assert abs(peak - 440) < 2
    def rms(x: np.ndarray) -> float:  # away from the edges, where the cut-off tone rings
        middle = x[len(x) // 4: 3 * len(x) // 4].astype(np.float64)
        return float(np.sqrt(np.mean(middle ** 2)))

    assert abs(rms(out) / rms(tone) - 1) < 0.02


def test_the_bridge_rate_is_left_alone():
    pcm = np.arange(1000, dtype=np.int16)
    assert np.array_equal(_resample(pcm, SAMPLE_RATE), pcm)
