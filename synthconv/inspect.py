"""Reading finished runs: the contract checks of docs/FORMAT.md, one conversation at a time."""

from __future__ import annotations

from pathlib import Path

import jsonlines
import numpy as np

from . import labels
from .errors import RunFolderError
from .runfolder import (LAG_LIMIT_S, TURN_FIELDS, ConversationResult, conversation_dir, loud, mp3_duration, read_error,
                        read_index, read_lines, read_meta, read_run_info, read_wav)

EDGE_S = 0.01  # timestamps are rounded to the millisecond; allow 10 ms at each edge


def validate_conversation(folder: Path, *, check_mp3: bool = True) -> list[str]:
    """Every way `folder` breaks the run folder contract; empty when it is valid."""
    problems: list[str] = []
    folder = Path(folder)
    for name in ("transcript.jsonl", "meta.json", "mix.mp3"):
        if not (folder / name).is_file():
            problems.append(f"missing {name}")
    meta = read_meta(folder)
    if isinstance(meta, str):
        problems.append("meta.json is not valid JSON")
    meta = meta if isinstance(meta, dict) else None

    turns: list[dict] = []
    for n, t in read_lines(folder / "transcript.jsonl"):
        if isinstance(t, jsonlines.InvalidLineError):
            problems.append(f"transcript.jsonl line {n}: not JSON")
            continue
        missing = TURN_FIELDS - set(t) if isinstance(t, dict) else TURN_FIELDS
        if missing:
            problems.append(f"transcript.jsonl line {n}: missing {sorted(missing)}")
            continue
        if t["end"] < t["start"]:
            problems.append(f"transcript.jsonl line {n}: end {t['end']} before start {t['start']}")
        turns.append(t)

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
        tracks[role], _ = pcm, rates.add(rate)
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
        own = [t for t in turns if t["role"] == role]
        inside = np.zeros(len(pcm), dtype=bool)
        for t in own:
            if t["end"] > duration + EDGE_S or t["start"] < 0:
                problems.append(f"turn {t['turn']}: [{t['start']}, {t['end']}] outside the {duration:.3f} s recording")
                continue
            a = max(0, int((t["start"] - EDGE_S) * rate))
            b = min(len(pcm), int((t["end"] + EDGE_S) * rate))
            inside[a:b] = True
            if b <= a or not loud(pcm[a:b]).any():
                problems.append(f"turn {t['turn']} ({role}): no speech in its own track between {t['start']} and {t['end']}")
        stray = loud(pcm) & ~inside
        if stray.any():
            at = np.flatnonzero(stray)[0] / rate
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


# --- whole runs ----------------------------------------------------------------------------


def read_run(run: Path) -> dict:
    """run.json plus every planned conversation's status: ok, failed or pending.

    Works on complete, running and interrupted runs: what conversations.jsonl does not list yet
    is read off the conversation folders (a folder with a readable meta.json is complete).
    Damage (a bad line, an unreadable meta.json) is collected in "damage", never raised.
    """
    run = Path(run)
    info = read_run_info(run)
    jobs = info["jobs"]
    planned = {j["id"] for j in jobs}
    index, damage = {}, []
    for n, r in read_index(run):
        if isinstance(r, str):
            damage.append(f"conversations.jsonl line {n}: {r}")
        elif r.id not in planned:
            damage.append(f"conversations.jsonl line {n}: {r.id} is not in the plan")
        else:
            index[r.id] = r.to_line()
    rows, wer = [], {}
    for job in jobs:
        r = index.get(job["id"])
        try:
            folder = conversation_dir(run, job["id"])
        except RunFolderError:  # a link inside the run: the row stays, validation reports it
            rows.append(r or ConversationResult(id=job["id"], status="pending", scenario=job["scenario"],
                                                roles=job["roles"]).to_line())
            continue
        if r is None or r["status"] == "ok":
            meta = read_meta(folder)
            if isinstance(meta, dict) and isinstance(meta.get("wer"), (int, float)):
                wer[job["id"]] = meta["wer"]
        if r is None:
            r = ConversationResult(id=job["id"], status="pending", scenario=job["scenario"], roles=job["roles"])
            meta, error = read_meta(folder), read_error(folder)
            if isinstance(meta, dict):
                r.status, r.duration_s, r.turns = "ok", meta.get("duration_s"), meta.get("turns")
            elif error is not None:
                r.status, r.error = "failed", error
            r = r.to_line()
        rows.append(r)
    if info.get("ended_at") is None:
        state = "running or killed"
    elif info.get("stopped"):
        state = str(info["stopped"])
    else:
        state = "complete"
    return {"run": str(run), "state": state, "info": info, "conversations": rows, "damage": damage, "wer": wer}


def summarize(view: dict) -> dict:
    rows = view["conversations"]
    ok = [r for r in rows if r["status"] == "ok"]
    by_status: dict[str, int] = {}
    by_scenario: dict[str, dict[str, int]] = {}
    by_persona: dict[str, dict[str, int]] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        s = by_scenario.setdefault(r["scenario"], {"ok": 0, "failed": 0, "pending": 0})
        s[r["status"]] = s.get(r["status"], 0) + 1
        for persona in r["roles"].values():
            p = by_persona.setdefault(persona, {"ok": 0, "failed": 0, "pending": 0})
            p[r["status"]] = p.get(r["status"], 0) + 1
    total = sum(r["duration_s"] or 0 for r in ok)
    turns = sum(r["turns"] or 0 for r in ok)
    return {
        "run": view["run"], "state": view["state"], "planned": len(rows), "by_status": by_status,
        "by_scenario": by_scenario, "by_persona": by_persona,
        "duration_s": {"total": round(total, 3), "mean": round(total / len(ok), 3) if ok else None},
        "turns": {"total": turns, "mean": round(turns / len(ok), 2) if ok else None},
        "wer": _spread([w for r in ok if (w := view.get("wer", {}).get(r["id"])) is not None]),
        "failures": [{"id": r["id"], "error": r["error"]} for r in rows if r["status"] == "failed"],
        "turn_taking": labels.run_figures(Path(view["run"]), [r["id"] for r in ok]),
    }


def _spread(values: list[float]) -> dict:
    """Mean, extremes and quartiles of the conversations' mean word error rates (meta.json `wer`)."""
    if not values:
        return {"conversations": 0, "mean": None}
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return {"conversations": len(values), "mean": round(float(np.mean(values)), 4),
            "min": round(min(values), 4), "p25": round(float(q[0]), 4), "median": round(float(q[1]), 4),
            "p75": round(float(q[2]), 4), "max": round(max(values), 4)}


def validate_run(view: dict, workers: int = 4) -> dict[str, list[str]]:
    """Contract problems per conversation id (only conversations with problems are listed);
    damage to the run's own files is listed under "run"."""
    from concurrent.futures import ThreadPoolExecutor

    run = Path(view["run"])
    problems: dict[str, list[str]] = {}
    jobs = {j["id"]: j for j in view["info"]["jobs"]}
    ok = [r for r in view["conversations"] if r["status"] == "ok"]

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
            found += _against_plan(meta, jobs[r["id"]])
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
    return problems


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
