"""Impairments: telephone, noise and packet-loss copies of a conversation's tracks.

`--impair noise:snr=15`, `--impair phone`, `--impair loss:0.03`, combinable (stages.py has each
stage and the spelling). Every role's track is impaired on its own (its own room, its own RTP
stream), seeded from the conversation's seed, the role and the stage, so a run impaired twice is
the same. The clean tracks are never touched: copies go to impaired/ and meta.json records
`impaired` (docs/FORMAT.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path
import numpy as np

from ..runfolder import (RunFolderError, RunLock, conversation_dir, mix_mp3, read_index, read_meta, read_run_info,
                         read_wav, replace_atomic, write_wav)
from .stages import KINDS, NOISE_KINDS, Impairment, Loss, Noise, Phone, active_power, parse, speech_frames


def _rng(seed: int, role: str, stage: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(role.encode()), zlib.crc32(stage.encode())])


def impair_tracks(tracks: dict[str, Path], out: Path, chain: list[Impairment], seed: int) -> dict:
    """Write the impaired copy of each role's clean track to out/<role>.wav and their mix to
    out/mix.mp3; return what meta.json records under `impaired`."""
    out.mkdir(parents=True, exist_ok=True)
    roles, paths, rate_out = {}, [], None
    for role, path in tracks.items():
        pcm, rate = read_wav(path)
        x = pcm.astype(np.float64) / 32768
        facts = {}
        for imp in chain:
            x, rate, drawn = imp.apply(x, rate, _rng(seed, role, imp.name))
            if drawn:
                facts[imp.name] = drawn
        roles[role] = facts
        paths.append(out / f"{role}.wav")
        write_wav(paths[-1], np.round(np.clip(x, -1, 32767 / 32768) * 32768).astype(np.int16), rate)
        rate_out = rate
    mix_mp3(paths, out / "mix.mp3")
    return {"spec": [i.spec() for i in chain], "chain": [i.describe() for i in chain], "seed": seed,
            "sample_rate": rate_out, "roles": roles}


def impair_folder(folder: Path, chain: list[Impairment], seed: int, roles: list[str]) -> dict:
    """A conversation folder's impaired/ (from its tracks/, role order kept); what meta.json
    records under `impaired`."""
    return impair_tracks({r: folder / "tracks" / f"{r}.wav" for r in roles}, folder / "impaired", chain, seed)


def _impair_one(folder: Path, chain: list[Impairment]) -> str:
    """Re-impair one complete conversation in place: the new impaired/ is written aside and
    swapped in, then meta.json is rewritten atomically. meta.json loses `impaired` before the
    swap, so no moment pairs the new audio with the old record."""
    meta = read_meta(folder)
    if not isinstance(meta, dict):
        return f"{folder.name}: {meta or 'no meta.json'}"
    roles = list(meta.get("personas") or {})
    if not roles or not all((folder / "tracks" / f"{r}.wav").is_file() for r in roles):
        return f"{folder.name}: tracks missing"
    aside = folder / ".impaired.tmp"
    shutil.rmtree(aside, ignore_errors=True)
    try:
        record = impair_tracks({r: folder / "tracks" / f"{r}.wav" for r in roles}, aside, chain, int(meta["seed"]))
    except (KeyError, TypeError, ValueError, OSError, RuntimeError, subprocess.CalledProcessError) as e:
        shutil.rmtree(aside, ignore_errors=True)  # the earlier copies and their record stay as they were
        return f"{folder.name}: {type(e).__name__}: {e}"
    try:
        if "impaired" in meta:
            del meta["impaired"]
            replace_atomic(folder / "meta.json", _dumps(meta))
        shutil.rmtree(folder / "impaired", ignore_errors=True)
        aside.rename(folder / "impaired")
        replace_atomic(folder / "meta.json", _dumps({**meta, "impaired": record}))
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return ""


def _dumps(meta: dict) -> str:
    return json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def impair_run(run: Path, chain: list[Impairment], workers: int = 1) -> dict[str, str]:
    """Impair every complete conversation of a finished run (under its lock: no generate may be
    writing it), `workers` at a time; conversation id -> problem ("" when impaired)."""
    from concurrent.futures import ProcessPoolExecutor

    read_run_info(run)
    ids = [r.id for _, r in read_index(run) if not isinstance(r, str) and r.ok]
    if not ids:
        raise RunFolderError(f"{run}: no complete conversation to impair")
    out = {}
    with RunLock(run), ProcessPoolExecutor(max(1, min(workers, len(ids)))) as pool:
        futures = {cid: pool.submit(_impair_one, conversation_dir(run, cid), chain) for cid in ids}
        for cid, fut in futures.items():
            out[cid] = fut.result()
    return out


__all__ = ["KINDS", "NOISE_KINDS", "Impairment", "Loss", "Noise", "Phone", "active_power", "impair_folder",
           "impair_run", "impair_tracks", "parse", "speech_frames"]
