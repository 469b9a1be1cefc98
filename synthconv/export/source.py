"""The complete conversations of a run, read once through the run folder contract.

A conversation the index lists as ok but that cannot be exported as it is (a damaged transcript
line, a track that is not a mono 16-bit WAV as long as the conversation, a link inside its
folder, no impaired copy of the run's chain) is left out with one line saying why: a dataset
is made of the conversations that are whole, and one damaged call never blocks the others.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RunFolderError
from ..runfolder import TURN_FIELDS, conversation_dir, read_index, read_lines, read_meta, read_run_info

EDGE_S = 0.01  # times are rounded to the millisecond; tracks and meta.json agree to 10 ms


@dataclass
class Conversation:
    id: str
    folder: Path
    scenario: str
    domain: str
    language: str
    roles: dict[str, str]  # role -> persona id
    speakers: dict[str, str]  # role -> persona name
    locales: dict[str, str]  # role -> locale
    sample_rate: int
    duration_s: float
    turns: list[dict]
    meta: dict = field(repr=False, default_factory=dict)
    audio: str = "clean"  # or "impaired": impaired/<role>.wav at meta.impaired.sample_rate

    def track(self, role: str) -> Path:
        return self.folder / ("tracks" if self.audio == "clean" else "impaired") / f"{role}.wav"


AUDIO = ("clean", "impaired")


class Damaged(Exception):
    """What keeps one conversation out of the export (one line, without its id)."""


def complete_conversations(run: Path, audio: str = "clean") -> tuple[dict, list[Conversation], list[str]]:
    """run.json, every whole conversation the index lists as ok (in plan order), and one line
    per listed conversation left out ("<id>: <why>")."""
    info = read_run_info(run)
    ok = {r.id for _, r in read_index(run) if not isinstance(r, str) and r.ok}
    chain = info["flags"].get("impair")
    chain = chain if isinstance(chain, list) and chain else None
    out, skipped = [], []
    for job in info["jobs"]:
        if job["id"] not in ok:
            continue
        try:
            out.append(_conversation(run, job, audio, chain))
        except (RunFolderError, Damaged) as e:
            skipped.append(f"{job['id']}: {e}")
    if not out:
        why = f": {skipped[0]}" + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else "") if skipped else ""
        raise RunFolderError(f"{run}: no complete conversation to export{why}")
    return info, out, skipped


def _conversation(run: Path, job: dict, audio: str, chain: list | None) -> Conversation:
    folder = conversation_dir(run, job["id"])  # a link anywhere inside it is refused here
    meta = read_meta(folder)
    if not isinstance(meta, dict):
        raise Damaged(meta or "no meta.json")
    roles = list(job["roles"])  # run.json's, checked names: these become paths
    personas, scenario = meta.get("personas"), meta.get("scenario")
    if not isinstance(personas, dict) or list(personas) != roles or not all(
            isinstance(p, dict) and _str(p.get("id")) and _str(p.get("name")) for p in personas.values()):
        raise Damaged(f"meta.json personas: expected {' and '.join(roles)} with an id and a name each")
    if not isinstance(scenario, dict) or not all(_str(scenario.get(k)) for k in ("id", "domain", "language")):
        raise Damaged("meta.json scenario: expected an id, a domain and a language")
    duration = meta.get("duration_s")
    if not _number(duration) or duration <= 0:
        raise Damaged(f"meta.json duration_s: {duration!r} is not a positive number")
    rate = meta.get("sample_rate")
    if audio == "impaired":
        record = meta.get("impaired")
        if not isinstance(record, dict):
            raise Damaged(f"no impaired audio; run `synthconv impair {run} --impair ...` first")
        if chain is not None and record.get("spec") != chain:
            raise Damaged(f"impaired with {record.get('spec')}, not the run's {chain} (run.json flags.impair): "
                          f"run `synthconv impair {run}` again")
        rate = record.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise Damaged(f"meta.json sample_rate: {rate!r} is not a positive whole number")
    language = scenario["language"]
    c = Conversation(
        id=job["id"], folder=folder, scenario=scenario["id"], domain=scenario["domain"], language=language,
        roles={r: p["id"] for r, p in personas.items()}, speakers={r: p["name"] for r, p in personas.items()},
        locales={r: p.get("locale") if _str(p.get("locale")) else language for r, p in personas.items()},
        sample_rate=rate, duration_s=duration, turns=_turns(folder, roles, duration), meta=meta, audio=audio)
    for role in roles:
        _check_track(c.track(role), folder, rate, duration)
    return c


def _turns(folder: Path, roles: list[str], duration: float) -> list[dict]:
    """transcript.jsonl's lines, each checked for what the formats write from it."""
    try:
        lines = read_lines(folder / "transcript.jsonl")
    except (OSError, UnicodeDecodeError) as e:
        raise Damaged(f"transcript.jsonl: cannot be read ({e})") from None
    turns = []
    for n, t in lines:
        where = f"transcript.jsonl line {n}"
        if isinstance(t, Exception):
            raise Damaged(f"{where}: not JSON ({t.__cause__ or t})")
        if not isinstance(t, dict):
            raise Damaged(f"{where}: not a JSON object")
        missing = sorted(TURN_FIELDS - set(t))
        if missing:
            raise Damaged(f"{where}: missing {', '.join(missing)}")
        if not isinstance(t["role"], str) or t["role"] not in roles:
            raise Damaged(f"{where}: role {t['role']!r} is not one of {', '.join(roles)}")
        if not (_number(t["start"]) and _number(t["end"]) and 0 <= t["start"] < t["end"] <= duration + EDGE_S):
            raise Damaged(f"{where}: start {t['start']!r} and end {t['end']!r} are not a span inside the "
                          f"{duration} s conversation")
        wrong = [k for k, kind in (("turn", int), ("text", str), ("speaker", str), ("interrupted", bool))
                 if not isinstance(t[k], kind) or (kind is int and isinstance(t[k], bool))]
        wrong += [k for k in ("heard", "kind", "intended", "spoken", "segment_id") if t.get(k) is not None
                  and not isinstance(t[k], str)]
        if not _items(t.get("words"), {"word": str, "start": float, "end": float}):
            wrong.append("words")
        if not _items(t.get("disfluencies"), {"type": str, "index": int, "text": str}):
            wrong.append("disfluencies")
        if wrong:
            raise Damaged(f"{where}: {', '.join(wrong)} of the wrong type")
        turns.append(t)
    if not turns:
        raise Damaged("transcript.jsonl: no turns")
    if len({t["turn"] for t in turns}) != len(turns):
        raise Damaged("transcript.jsonl: a turn number is used twice")
    return turns


def _check_track(path: Path, folder: Path, rate: int, duration: float) -> None:
    """A mono 16-bit WAV at `rate`, whole (its last frame is there) and `duration` long."""
    name = path.relative_to(folder).as_posix()
    try:
        with wave.open(str(path), "rb") as w:
            p = w.getparams()
            w.setpos(max(0, p.nframes - 1))
            whole = len(w.readframes(1)) == p.nchannels * p.sampwidth or p.nframes == 0
    except FileNotFoundError:
        raise Damaged(f"{name}: missing") from None
    except (wave.Error, EOFError, OSError) as e:
        raise Damaged(f"{name}: not a readable WAV file ({str(e) or 'truncated'})") from None
    if p.nchannels != 1 or p.sampwidth != 2:
        raise Damaged(f"{name}: {p.nchannels} channel(s) of {8 * p.sampwidth}-bit, not mono 16-bit PCM")
    if not whole:
        raise Damaged(f"{name}: truncated (its header says {p.nframes} frames)")
    if p.framerate != rate or abs(p.nframes / rate - duration) > EDGE_S:
        raise Damaged(f"{name}: {p.nframes / p.framerate:.3f} s at {p.framerate} Hz, meta.json says "
                      f"{duration} s at {rate} Hz")


def _str(x: object) -> bool:
    return isinstance(x, str) and bool(x)


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _items(value: object, kinds: dict[str, type]) -> bool:
    """None, or a list of objects with these fields (float: any number)."""
    if value is None:
        return True
    return isinstance(value, list) and all(
        isinstance(v, dict) and all(_number(v.get(k)) if kind is float else
                                    isinstance(v.get(k), kind) and not isinstance(v.get(k), bool)
                                    for k, kind in kinds.items()) for v in value)
