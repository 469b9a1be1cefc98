"""The export formats, each written from the same conversations, splits and audio.

- hf: two Hugging Face configurations as parquet with the audio inside and datasets' features
  in the schema, `segments` (one row per turn: its slice of the speaker's track) and
  `conversations` (one row per conversation: its role tracks and a mix), declared in the card's
  `configs`, so `datasets.load_dataset(DIR, "segments")` needs no glue (and no torch: an
  audiofolder would need torchcodec just to load);
- nemo: ASR manifests (one line per turn, offset/duration into the speaker's track) per split and
  language, and diarization manifests pointing at the mix, its RTTM and UEM;
- rttm: one RTTM (SPEAKER lines, persona ids as speaker labels: names have spaces and
  Devanagari) and one UEM per conversation;
- lhotse: recordings, supervisions and cuts manifests (lhotse.py);
- stereo: one 16-bit stereo WAV per conversation, the caller left and the agent right, the order
  caller/agent evaluators read (DeepEval's voice timing metrics, lks), and a manifest per split.
  A format of its own rather than an option of hf or nemo: evaluators read a folder of WAVs and
  need neither parquet nor manifests of turns.

Every path written is relative to the file that names it (lhotse's: to the export folder), so
the folder can be moved.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import jsonlines

from ..runfolder import read_wav
from .audio import conversation_audio, stereo_wav, turn_slices
from .source import Conversation

if TYPE_CHECKING:
    import pyarrow.parquet as pq

FORMATS = ("hf", "nemo", "rttm", "lhotse", "stereo")
AGENT_ROLES = ("agent", "dispatcher")  # the roles of the library's scenarios that answer for the business


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def segment_id(c: Conversation, turn: dict) -> str:
    """The transcript's own id (format 1.2), or the same form for older runs."""
    return turn.get("segment_id") or f"{c.id}-{turn['turn']:04d}"


def write_audio(out: Path, conversations: list[Conversation], splits: dict[str, str],
                copy_tracks: bool = True) -> dict[str, dict[str, Path]]:
    """audio/<split>/<id>/: role tracks and mix.wav (the hf parquet files embed copies: for hf
    alone, `out` is a scratch folder and the run's tracks are only read)."""
    return {c.id: conversation_audio(c, out / "audio" / splits[c.id] / c.id, copy_tracks) for c in conversations}


def caller_and_agent(c: Conversation, agent_roles: list[str]) -> tuple[str, str]:
    """(caller role, agent role): the agent is the first of `agent_roles` the conversation has."""
    agent = next((r for r in agent_roles if r in c.roles), None)
    if agent is None:
        raise ValueError(f"neither of its roles ({', '.join(c.roles)}) is an agent role ({', '.join(agent_roles)}); "
                         "name it with --agent-role")
    (caller,) = [r for r in c.roles if r != agent]
    return caller, agent


def write_stereo(out: Path, conversations: list[Conversation], splits: dict[str, str],
                 agent_roles: list[str], version: str) -> None:
    """stereo/<split>/<id>.wav (left: caller, right: agent) and stereo/<split>.jsonl."""
    lines: dict[str, list[dict]] = {}
    for c in conversations:
        split = splits[c.id]
        caller, agent = caller_and_agent(c, agent_roles)
        path = out / "stereo" / split / f"{c.id}.wav"
        side = {"left": (caller, "caller"), "right": (agent, "agent")}
        stereo_wav(path, read_wav(c.track(caller))[0], read_wav(c.track(agent))[0], c.sample_rate, {
            "INAM": c.id, "ICMT": "; ".join(f"{ch}: {role} ({who}, {c.roles[role]})" for ch, (role, who) in side.items()),
            "ISFT": f"synthconv {version}"})
        lines.setdefault(split, []).append({
            "audio_filepath": _rel(path, out / "stereo"), "conversation_id": c.id, "duration": c.duration_s,
            "sample_rate": c.sample_rate, **{ch: {"role": role, "side": who, "speaker": c.roles[role]}
                                             for ch, (role, who) in side.items()}})
    for split, rows in lines.items():
        with jsonlines.open(out / "stereo" / f"{split}.jsonl", "w") as w:
            w.write_all(rows)


# column kinds: "string", "float64", "int32", "bool", "audio", ["kind"] (a list), {"field": kind} (a struct)
SEGMENT_COLUMNS = {
    "audio": "audio", "segment_id": "string", "conversation_id": "string", "turn": "int32", "role": "string",
    "speaker": "string", "speaker_name": "string", "text": "string", "spoken": "string", "heard": "string", "start": "float64",
    "end": "float64", "duration": "float64", "interrupted": "bool", "language": "string", "locale": "string",
    "scenario": "string", "domain": "string", "kind": "string", "intended": "string",
    "words": [{"word": "string", "start": "float64", "end": "float64"}],
    "disfluencies": [{"type": "string", "index": "int32", "text": "string"}],
}
CONVERSATION_COLUMNS = {
    "id": "string", "tracks": ["audio"], "mix": "audio", "roles": ["string"], "speakers": ["string"],
    "speaker_names": ["string"], "scenario": "string", "domain": "string", "language": "string",
    "duration_s": "float64", "num_turns": "int32",
    "turns": [{"role": "string", "speaker": "string", "text": "string", "start": "float64", "end": "float64",
               "kind": "string", "interrupted": "bool"}],
}


def _arrow(kind):  # noqa: ANN001, ANN202 - a column kind as above
    import pyarrow as pa

    if isinstance(kind, list):
        return pa.list_(_arrow(kind[0]))
    if isinstance(kind, dict):
        return pa.struct([(k, _arrow(v)) for k, v in kind.items()])
    if kind == "audio":  # what datasets' Audio feature stores
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return {"string": pa.string(), "float64": pa.float64(), "int32": pa.int32(), "bool": pa.bool_()}[kind]


def _feature(kind) -> dict:  # noqa: ANN001 - datasets' serialized Features, so no glue (and no datasets) is needed
    if isinstance(kind, list):
        return {"feature": _feature(kind[0]), "_type": "List"}
    if isinstance(kind, dict):
        return {k: _feature(v) for k, v in kind.items()}
    return {"_type": "Audio"} if kind == "audio" else {"dtype": kind, "_type": "Value"}


class _ParquetSink:
    """A parquet file `datasets.load_dataset` reads with its features (Audio included) as
    declared, written a row group at a time: rows carry audio, so holding a whole split in
    memory took 9 GB for 200 conversations."""

    def __init__(self, path: Path, columns: dict, flush_bytes: int = 64 << 20) -> None:
        import json

        import pyarrow as pa

        self.path, self.flush_bytes = path, flush_bytes
        self.schema = pa.schema([(name, _arrow(kind)) for name, kind in columns.items()]).with_metadata(
            {"huggingface": json.dumps({"info": {"features": {n: _feature(k) for n, k in columns.items()}}})})
        self.rows: list[dict] = []
        self.size = 0
        self.writer: pq.ParquetWriter | None = None

    def add(self, row: dict, size: int) -> None:
        self.rows.append(row)
        self.size += size
        if self.size >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, self.schema)
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.rows, self.size = [], 0

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


def _audio(path: Path, name: str) -> dict:
    return {"bytes": path.read_bytes(), "path": name}


def write_hf(out: Path, conversations: list[Conversation], splits: dict[str, str],
             audio: dict[str, dict[str, Path]], scratch: Path) -> None:
    """data/{segments,conversations}/<split>.parquet with the audio inside (WAV bytes); the turn
    slices are cut into `scratch`, a conversation at a time."""
    sinks: dict[tuple[str, str], _ParquetSink] = {}

    def sink(config: str, split: str) -> _ParquetSink:
        if (config, split) not in sinks:
            columns = CONVERSATION_COLUMNS if config == "conversations" else SEGMENT_COLUMNS
            sinks[config, split] = _ParquetSink(out / "data" / config / f"{split}.parquet", columns)
        return sinks[config, split]

    for c in conversations:
        split = splits[c.id]
        roles = list(c.roles)
        files = [_audio(audio[c.id][r], f"{c.id}/{r}.wav") for r in roles]
        mix = _audio(audio[c.id]["mix"], f"{c.id}/mix.wav")
        sink("conversations", split).add({
            "id": c.id, "tracks": files, "mix": mix, "roles": roles,
            "speakers": [c.roles[r] for r in roles], "speaker_names": [c.speakers[r] for r in roles],
            "scenario": c.scenario, "domain": c.domain, "language": c.language, "duration_s": c.duration_s,
            "num_turns": sum(t.get("kind", "turn") == "turn" for t in c.turns),
            "turns": [{"role": t["role"], "speaker": c.roles[t["role"]], "text": t["text"],
                       "start": float(t["start"]), "end": float(t["end"]), "kind": t.get("kind", "turn"),
                       "interrupted": bool(t["interrupted"])} for t in c.turns],
        }, sum(len(f["bytes"]) for f in files) + len(mix["bytes"]))
        slices = turn_slices(c, scratch / c.id)
        for t in c.turns:
            sid = segment_id(c, t)
            clip = _audio(slices[t["turn"]], f"{sid}.wav")
            sink("segments", split).add({
                "audio": clip, "segment_id": sid, "conversation_id": c.id,
                "turn": t["turn"], "role": t["role"], "speaker": c.roles[t["role"]],
                "speaker_name": t["speaker"], "text": t["text"], "spoken": t.get("spoken") or t["text"],
                "heard": t["heard"] or "",
                "start": float(t["start"]), "end": float(t["end"]),
                "duration": round(float(t["end"]) - float(t["start"]), 3),
                "interrupted": bool(t["interrupted"]), "language": c.language, "locale": c.locales[t["role"]],
                "scenario": c.scenario, "domain": c.domain, "kind": t.get("kind", "turn"),
                "intended": t.get("intended") or "", "words": t.get("words") or [],
                "disfluencies": t.get("disfluencies") or []}, len(clip["bytes"]))
        shutil.rmtree(scratch / c.id)
    for s in sinks.values():
        s.close()


def write_rttm(out: Path, conversations: list[Conversation]) -> dict[str, tuple[Path, Path]]:
    folder = out / "rttm"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for c in conversations:
        lines = [f"SPEAKER {c.id} 1 {float(t['start']):.3f} {float(t['end']) - float(t['start']):.3f} "
                 f"<NA> <NA> {c.roles[t['role']]} <NA> <NA>\n" for t in c.turns]
        (folder / f"{c.id}.rttm").write_text("".join(lines), encoding="utf-8")
        (folder / f"{c.id}.uem").write_text(f"{c.id} 1 0.000 {c.duration_s:.3f}\n", encoding="utf-8")
        paths[c.id] = (folder / f"{c.id}.rttm", folder / f"{c.id}.uem")
    return paths


def write_nemo(out: Path, conversations: list[Conversation], splits: dict[str, str],
               audio: dict[str, dict[str, Path]], rttm: dict[str, tuple[Path, Path]]) -> None:
    folder = out / "nemo"
    folder.mkdir(parents=True, exist_ok=True)
    asr: dict[tuple[str, str], list[dict]] = {}
    diar: dict[str, list[dict]] = {}
    for c in conversations:
        split = splits[c.id]
        for t in c.turns:
            asr.setdefault((split, c.language), []).append({
                "audio_filepath": _rel(audio[c.id][t["role"]], folder), "offset": float(t["start"]),
                "duration": round(float(t["end"]) - float(t["start"]), 3), "text": t["text"],
                "spoken": t.get("spoken") or t["text"], "speaker": c.roles[t["role"]], "lang": c.language, "segment_id": segment_id(c, t)})
        diar.setdefault(split, []).append({
            "audio_filepath": _rel(audio[c.id]["mix"], folder), "offset": 0, "duration": c.duration_s,
            "label": "infer", "text": "-", "num_speakers": len(c.roles),
            "rttm_filepath": _rel(rttm[c.id][0], folder), "uem_filepath": _rel(rttm[c.id][1], folder)})
    for (split, lang), lines in asr.items():
        with jsonlines.open(folder / f"asr_{lang}_{split}.jsonl", "w") as w:
            w.write_all(lines)
    for split, lines in diar.items():
        with jsonlines.open(folder / f"diarization_{split}.jsonl", "w") as w:
            w.write_all(lines)
