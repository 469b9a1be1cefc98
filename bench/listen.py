"""A listening aid: spectrograms of the same turns spoken by espeak-ng and by Piper.

Takes two runs of one plan (`bench/voices.py --keep DIR` writes DIR/run-espeak and DIR/run-auto),
finds the first English conversation in both, and draws each role's first turn from each run
(2 × 2 spectrograms, 0-5 kHz, with the median pitch of each) into one PNG; prints the same
figures. Needs matplotlib (the test and report extras).

    bench/listen.py DIR/run-espeak DIR/run-auto --out voices.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from synthconv.runfolder import read_wav


def median_f0(pcm: np.ndarray, rate: int) -> float:
    """The median pitch of the voiced 40 ms frames (autocorrelation peak in 60-400 Hz)."""
    x = pcm.astype(np.float64) / 32768
    size, f0s = int(0.04 * rate), []
    for i in range(0, len(x) - size, size // 2):
        frame = x[i: i + size] - x[i: i + size].mean()
        if np.sqrt((frame ** 2).mean()) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1:]
        lo, hi = rate // 400, rate // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            f0s.append(rate / lag)
    return float(np.median(f0s)) if f0s else float("nan")


def first_turns(run: Path, conv: str) -> dict[str, tuple[np.ndarray, int, dict, dict]]:
    """Each role's first turn: its samples, the rate, the transcript line and the voice."""
    folder = run / "conversations" / conv
    meta = json.loads((folder / "meta.json").read_text())
    lines = [json.loads(x) for x in (folder / "transcript.jsonl").read_text().splitlines()]
    out = {}
    for role in meta["personas"]:
        turn = next(t for t in lines if t["role"] == role and t["kind"] == "turn")
        pcm, rate = read_wav(folder / "tracks" / f"{role}.wav")
        out[role] = (pcm[int(turn["start"] * rate): int(turn["end"] * rate)], rate, turn, meta["voices"][role])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("espeak", type=Path)
    ap.add_argument("piper", type=Path)
    ap.add_argument("--out", type=Path, default=Path("voices.png"))
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [json.loads(x)["id"] for x in (args.piper / "conversations.jsonl").read_text().splitlines()
          if json.loads(x)["status"] == "ok"]
    conv = next(c for c in ok if (args.espeak / "conversations" / c / "meta.json").exists() and
                json.loads((args.piper / "conversations" / c / "meta.json").read_text())["scenario"]["language"] == "en")
    runs = {"espeak-ng": first_turns(args.espeak, conv), "Piper": first_turns(args.piper, conv)}
    fig, axes = plt.subplots(2, 2, figsize=(14, 7), constrained_layout=True)
    print(f"conversation {conv}: each role's first turn")
    for row, (name, turns) in enumerate(runs.items()):
        for col, (role, (pcm, rate, turn, voice)) in enumerate(turns.items()):
            f0 = median_f0(pcm, rate)
            setting = (f"pitch {voice['pitch']:+.1f} st, length {voice['length_scale']}" if voice["engine"] == "piper"
                       else f"{voice['voice']}, rate {voice['rate']}, pitch {voice['pitch']}")
            print(f"  {name:>9} {role:>10}: {len(pcm) / rate:5.2f} s, median F0 {f0:5.0f} Hz, {setting}: {turn['text']!r}")
            ax = axes[row][col]
            ax.specgram(pcm.astype(np.float64), NFFT=512, Fs=rate, noverlap=384, cmap="magma", vmin=-40)
            ax.set_ylim(0, 5000)
            ax.set_title(f"{name} · {role} · F0 {f0:.0f} Hz · {setting}\n{turn['text'][:90]}", fontsize=8)
            ax.set_xlabel("s")
            ax.set_ylabel("Hz")
    fig.savefig(args.out, dpi=80, **({"pil_kwargs": {"quality": 80}} if args.out.suffix in (".jpg", ".jpeg") else {}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
