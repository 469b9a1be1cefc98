"""The complete conversations of a run, read once through the run folder contract.

A conversation the index lists as ok but that cannot be exported as it is (a damaged transcript
line, a track that is not a mono 16-bit WAV as long as the conversation, a link inside its
folder, no impaired copy of the run's chain) is left out with one line saying why: a dataset
is made of the conversations that are whole, and one damaged call never blocks the others.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RunFolderError
from ..runfolder import (
    ConversationMeta,
    SchemaError,
    conversation_dir,
    read_index,
    read_meta,
    read_run_info,
    read_transcript,
)

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
    try:
        ConversationMeta.from_dict(meta)
    except SchemaError as e:
        raise Damaged(f"meta.json {e}") from None
    roles = list(job["roles"])  # run.json's, checked names: these become paths
    personas, scenario = meta["personas"], meta["scenario"]
    if list(personas) != roles or not all(_str(p.get("id")) and _str(p.get("name")) for p in personas.values()):
        raise Damaged(f"meta.json personas: expected {' and '.join(roles)} with an id and a name each")
    if not all(_str(scenario.get(k)) for k in ("domain", "language")):
        raise Damaged("meta.json scenario: expected a domain and a language")
    duration, rate = meta["duration_s"], meta["sample_rate"]
    if audio == "impaired":
        record = meta.get("impaired")
        if not isinstance(record, dict):
            raise Damaged(f"no impaired audio; run `synthconv impair {run} --impair ...` first")
        if chain is not None and record.get("spec") != chain:
            raise Damaged(f"impaired with {record.get('spec')}, not the run's {chain} (run.json flags.impair): "
                          f"run `synthconv impair {run}` again")
        rate = record.get("sample_rate")
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0 or duration <= 0:
        raise Damaged(f"meta.json: {duration} s at {rate} Hz is not audio")
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
    """transcript.jsonl's lines (the schema checks each field), each also inside the
    conversation, by one of its roles, with disfluencies the hf schema can hold."""
    try:
        turns = [t.to_dict() for t in read_transcript(folder)]
    except SchemaError as e:
        raise Damaged(str(e)) from None
    except OSError as e:
        raise Damaged(f"transcript.jsonl: cannot be read ({e.strerror})") from None
    for n, t in enumerate(turns, 1):
        where = f"transcript.jsonl line {n}"
        if t["role"] not in roles:
            raise Damaged(f"{where}: role {t['role']!r} is not one of {', '.join(roles)}")
        if not 0 <= t["start"] < t["end"] <= duration + EDGE_S:
            raise Damaged(f"{where}: [{t['start']}, {t['end']}] is not a span inside the {duration} s conversation")
        if not _items(t["disfluencies"], {"type": str, "index": int, "text": str}):
            raise Damaged(f"{where}: disfluencies: expected objects of type, index and text")
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


def _items(value: list, kinds: dict[str, type]) -> bool:
    """A list of objects with these fields."""
    return all(isinstance(v, dict) and all(isinstance(v.get(k), kind) and not isinstance(v.get(k), bool)
                                           for k, kind in kinds.items()) for v in value)
