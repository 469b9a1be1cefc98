"""The run folder contract, checked (`inspect --validate`): every way a conversation folder or
a run breaks docs/FORMAT.md, as one line each. Damage is a finding, never a crash: one bad
conversation never hides the others."""

from __future__ import annotations

from pathlib import Path

import jsonlines
import numpy as np

from ..errors import RunFolderError
from . import labels
from .audio import EDGE_S, loud, mp3_duration, read_wav, stray_speech
from .conversation import LAG_LIMIT_S, read_lines, read_meta
from .index import read_index
from .names import conversation_dir
from .schema import ConversationMeta, SchemaError, TranscriptLine


def validate_conversation(folder: Path, *, check_mp3: bool = True) -> list[str]:  # noqa: C901, PLR0912, PLR0915
    """Every way `folder` breaks the run folder contract; empty when it is valid."""
    problems: list[str] = []
    folder = Path(folder)
    for name in ("transcript.jsonl", "meta.json", "mix.mp3"):
        if not (folder / name).is_file():
            problems.append(f"missing {name}")
    raw = read_meta(folder)
    meta: dict | None = None
    if isinstance(raw, str):
        problems.append("meta.json is not valid JSON")
    elif raw is not None:
        try:
            meta = ConversationMeta.from_dict(raw).to_dict()
        except SchemaError as e:
            problems.append(f"meta.json: {e}")
    if meta is not None and "facts" in meta and not (folder / "mix_stereo.mp3").is_file():
        problems.append("missing mix_stereo.mp3")

    turns: list[dict] = []  # the lines that read as transcript lines, as written
    for n, t in read_lines(folder / "transcript.jsonl"):
        if isinstance(t, jsonlines.InvalidLineError):
            problems.append(f"transcript.jsonl line {n}: not JSON")
            continue
        try:
            turns.append(TranscriptLine.from_dict(t).to_dict())
        except SchemaError as e:
            problems.append(f"transcript.jsonl line {n}: {e}")

    tracks: dict[str, np.ndarray] = {}
    rates = set()
    roles = sorted({t["role"] for t in turns} | set((meta or {}).get("personas", {})))
    for role in roles:
        path = folder / "tracks" / f"{role}.wav"
        if not path.is_file():
            problems.append(f"missing tracks/{role}.wav")
            continue
        try:
            pcm, rate = read_wav(path)
        except Exception as e:  # noqa: BLE001 - a damaged file is a finding, not a crash
            problems.append(f"tracks/{role}.wav unreadable: {e}")
            continue
        tracks[role] = pcm
        rates.add(rate)
    if len(rates) > 1:
        problems.append(f"tracks have different sample rates {sorted(rates)}")
    if len({len(p) for p in tracks.values()}) > 1:
        problems.append(f"tracks have different lengths { {r: len(p) for r, p in tracks.items()} }")
    if not tracks or len(rates) != 1:
        return problems
    rate = rates.pop()
    duration = max(len(p) for p in tracks.values()) / rate
    if meta and abs(meta.get("duration_s", duration) - duration) > 0.01:
        problems.append(f"meta.json duration_s {meta.get('duration_s')} but tracks last {duration:.3f} s")
    lag = (meta or {}).get("realtime_lag_s")
    if isinstance(lag, (int, float)) and lag > LAG_LIMIT_S:
        problems.append(f"fell {lag:.2f} s behind real time (realtime_lag_s; more than {LAG_LIMIT_S:g} s "
                        "distorts its timing)")

    for role, pcm in tracks.items():
        spans = []
        for t in (t for t in turns if t["role"] == role):
            if t["end"] > duration + EDGE_S or t["start"] < 0:
                problems.append(f"turn {t['turn']}: [{t['start']}, {t['end']}] outside the {duration:.3f} s recording")
                continue
            spans.append((t["start"], t["end"]))
            a = max(0, int((t["start"] - EDGE_S) * rate))
            b = min(len(pcm), int((t["end"] + EDGE_S) * rate))
            if b <= a or not loud(pcm[a:b]).any():
                problems.append(f"turn {t['turn']} ({role}): no speech in its own track between {t['start']} and {t['end']}")
        at = stray_speech(pcm, spans, rate)
        if at is not None:
            problems.append(f"tracks/{role}.wav: speech at {at:.3f} s outside every {role} turn")

    problems += labels.problems(turns, tracks, rate, EDGE_S)
    if meta and "impaired" in meta:
        problems += _impaired_problems(folder, meta["impaired"], list(tracks), duration)
    for name in ("mix.mp3", "mix_stereo.mp3"):  # the stereo mix is there since format 1.2
        if check_mp3 and (folder / name).is_file():
            try:
                mp3 = mp3_duration(folder / name)
                if abs(mp3 - duration) > 0.15:
                    problems.append(f"{name} lasts {mp3:.2f} s, tracks {duration:.2f} s")
            except ValueError as e:
                problems.append(f"{name} does not decode: {e}")
    return problems


def _impaired_problems(folder: Path, record: object, roles: list[str], duration: float) -> list[str]:
    """impaired/ must hold what meta.json's `impaired` says: a track per role at its sample rate,
    as long as the clean ones, and the mix."""
    if not isinstance(record, dict) or not isinstance(record.get("sample_rate"), int):
        return ["meta.json impaired: not an object with a sample_rate"]
    found = [] if (folder / "impaired" / "mix.mp3").is_file() else ["missing impaired/mix.mp3"]
    for role in roles:
        try:
            pcm, rate = read_wav(folder / "impaired" / f"{role}.wav")
        except Exception as e:  # noqa: BLE001 - a missing or damaged file is a finding
            found.append(f"impaired/{role}.wav unreadable: {e}")
            continue
        if rate != record["sample_rate"] or abs(len(pcm) / rate - duration) > 0.01:
            found.append(f"impaired/{role}.wav: {len(pcm) / rate:.3f} s at {rate} Hz, expected {duration:.3f} s "
                         f"at {record['sample_rate']} Hz")
    return found


def validate_run(view: dict, workers: int = 4) -> dict[str, list[str]]:
    """Contract problems per conversation id (only conversations with problems are listed);
    damage to the run's own files is listed under "run"."""
    from concurrent.futures import ThreadPoolExecutor

    run = Path(view["run"])
    problems: dict[str, list[str]] = {}
    jobs = {j["id"]: j for j in view["info"]["jobs"]}
    ok = [r for r in view["conversations"] if r["status"] == "ok"]
    chain = view["info"]["flags"].get("impair")  # what every conversation must carry
    chain = chain if isinstance(chain, list) and chain else None

    def check(r: dict) -> list[str]:
        try:
            folder = conversation_dir(run, r["id"])
        except RunFolderError as e:
            return [str(e)]
        try:
            found = validate_conversation(folder)
        except Exception as e:  # noqa: BLE001 - damage is a finding; the report must always be written
            found = [f"cannot be checked ({type(e).__name__}: {e})"]
        meta = read_meta(folder)
        if isinstance(meta, dict):
            found += _against_plan(meta, jobs[r["id"]]) + _chain_problems(meta, chain)
        return found

    with ThreadPoolExecutor(workers) as pool:  # ffmpeg decodes run as subprocesses
        for r, p in zip(ok, pool.map(check, ok)):
            if p:
                problems[r["id"]] = p
    if view["state"] != "running or killed":
        listed = {r.id for _, r in read_index(run) if not isinstance(r, str)}
        for r in view["conversations"]:
            if r["id"] not in listed:
                problems.setdefault(r["id"], []).append("missing from conversations.jsonl")
    if view["damage"]:
        problems["run"] = list(view["damage"])
    if not ok:  # "all valid" must never mean "nothing was checked"
        problems.setdefault("run", []).append("no complete conversation to validate "
                                              f"({len(view['conversations'])} planned, none ok)")
    return problems


def _chain_problems(meta: dict, chain: list | None) -> list[str]:
    """The impairments run.json names (generate --impair, or the last `synthconv impair`, which
    records its chain before it starts) are the ones every conversation carries: a killed
    re-impair leaves some with the old chain. Runs impaired before 1.5 name none: not checked."""
    record = meta.get("impaired")
    spec = record.get("spec") if isinstance(record, dict) else None
    if chain is None or spec == chain:
        return []
    return [f"impaired with {' + '.join(map(str, spec)) if isinstance(spec, list) else 'nothing'}, not the run's "
            f"{' + '.join(map(str, chain))} (run.json flags.impair): run `synthconv impair` again"]


def _against_plan(meta: dict, job: dict) -> list[str]:
    """A complete conversation must be the one run.json planned under its id."""
    found = []
    scenario = meta.get("scenario")
    if meta.get("id") != job["id"]:
        found.append(f"meta.json id {meta.get('id')!r} is not the planned {job['id']!r}")
    if not isinstance(scenario, dict) or scenario.get("id") != job["scenario"]:
        found.append(f"meta.json scenario is not the planned {job['scenario']!r}")
    personas = meta.get("personas")
    drawn = {r: p.get("id") for r, p in personas.items() if isinstance(p, dict)} if isinstance(personas, dict) else None
    if drawn != job["roles"]:
        found.append(f"meta.json personas {drawn} are not the planned {job['roles']}")
    if meta.get("seed") != job["seed"]:
        found.append(f"meta.json seed {meta.get('seed')!r} is not the planned {job['seed']}")
    return found
