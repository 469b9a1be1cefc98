"""Impairments: telephone, noise and packet-loss copies of a conversation's tracks.

`--impair noise:snr=15`, `--impair phone`, `--impair loss:0.03`, combinable (stages.py has each
stage and the spelling). Every role's track is impaired on its own (its own room, its own RTP
stream), seeded from the conversation's seed, the role and the stage, so a run impaired twice is
the same. The clean tracks are never touched: copies go to impaired/ and meta.json records
`impaired` (docs/FORMAT.md). `synthconv impair` records the run's chain in run.json
(`flags.impair`) before it starts, so a run it was killed in is found by `inspect --validate`
(conversations that do not carry that chain) and finished by impairing it again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import zlib
from pathlib import Path

import numpy as np

from ..runfolder import (
    RunFolderError,
    RunLock,
    RunLog,
    conversation_dir,
    disk_problem,
    mix_mp3,
    read_index,
    read_meta,
    read_run_info,
    read_wav,
    replace_atomic,
    write_run_info,
    write_wav,
)
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


def _impair_one(folder: Path, chain: list[Impairment], roles: list[str]) -> str:
    """Re-impair one complete conversation in place: the new impaired/ is written aside and
    swapped in, then meta.json is rewritten atomically. meta.json loses `impaired` before the
    swap, so no moment pairs the new audio with the old record. `roles` are run.json's (checked
    names): meta.json's keys never become paths."""
    meta = read_meta(folder)
    if not isinstance(meta, dict):
        return f"{folder.name}: {meta or 'no meta.json'}"
    if list(meta.get("personas") or {}) != roles:
        return f"{folder.name}: meta.json personas are not the planned roles {roles}"
    missing = [f"tracks/{r}.wav" for r in roles if not (folder / "tracks" / f"{r}.wav").is_file()]
    if missing:
        return f"{folder.name}: {', '.join(missing)} missing"
    aside = folder / ".impaired.tmp"  # a killed impair's leftover goes first
    shutil.rmtree(aside, ignore_errors=True)
    try:
        record = impair_tracks({r: folder / "tracks" / f"{r}.wav" for r in roles}, aside, chain, int(meta["seed"]))
    except (ValueError, OSError) as e:  # read_wav names the file that is not a track
        shutil.rmtree(aside, ignore_errors=True)  # the earlier copies and their record stay as they were
        return f"{folder.name}: {e}"
    except (KeyError, TypeError, RuntimeError, subprocess.CalledProcessError) as e:
        shutil.rmtree(aside, ignore_errors=True)
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


def _worker_start(parent: int) -> None:
    """A pool worker dies with the impair that started it, however it dies (a SIGKILLed impair
    left its workers finishing the run on their own); Ctrl-C is the parent's to handle."""
    from ..process import die_with_parent

    die_with_parent()
    if os.getppid() != parent:  # it died before we asked
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def impair_run(run: Path, chain: list[Impairment], workers: int = 1) -> dict[str, str]:
    """Impair every complete conversation of a finished run (under its lock: no generate may be
    writing it), `workers` at a time; conversation id -> problem ("" when impaired).

    run.json's `flags.impair` names the chain first: what every conversation must carry, here
    and in the ones a `generate --resume` adds. Workers are spawned, not forked: a forked child
    shares the lock's descriptor and would hold the run after its parent is killed."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    read_run_info(run)
    with RunLock(run):
        info = read_run_info(run)
        roles = {j["id"]: list(j["roles"]) for j in info["jobs"]}
        ids = list(dict.fromkeys(r.id for _, r in read_index(run) if not isinstance(r, str) and r.ok and r.id in roles))
        if not ids:
            raise RunFolderError(f"{run}: no complete conversation to impair")
        spec = [i.spec() for i in chain]
        try:
            write_run_info(run, {**info, "flags": {**info["flags"], "impair": spec}})
        except OSError as e:
            raise RunFolderError(f"{run}: cannot write run.json ({disk_problem(e)})") from None
        log = RunLog(run)
        log(f"impair: {' + '.join(spec)} on {len(ids)} conversations")
        out, futures = {}, {}
        with ProcessPoolExecutor(max(1, min(workers, len(ids))), mp_context=get_context("spawn"),
                                 initializer=_worker_start, initargs=(os.getpid(),)) as pool:
            for cid in ids:
                try:
                    futures[cid] = pool.submit(_impair_one, conversation_dir(run, cid), chain, roles[cid])
                except RunFolderError as e:  # a link inside it: reported, never followed
                    out[cid] = f"{cid}: {e}"
            for cid, fut in futures.items():
                try:
                    out[cid] = fut.result()
                except BrokenProcessPool as e:
                    out[cid] = f"{cid}: a worker died ({e})"
        log(f"impair: {sum(not p for p in out.values())} impaired, {sum(bool(p) for p in out.values())} skipped")
    return {cid: out[cid] for cid in ids}


__all__ = ["KINDS", "NOISE_KINDS", "Impairment", "Loss", "Noise", "Phone", "active_power", "impair_folder",
           "impair_run", "impair_tracks", "parse", "speech_frames"]
