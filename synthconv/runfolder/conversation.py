"""One conversation's folder: written whole under a temporary name, then renamed into place.

RUN/conversations/<id>/ holds transcript.jsonl, tracks/<role>.wav, mix.mp3, mix_stereo.mp3 and meta.json when the
conversation is complete, or only error.txt when it failed (docs/FORMAT.md).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import jsonlines

from .audio import mix_mp3, stereo_mp3, write_wav
from .disk import replace_atomic
from .names import conversation_dir, tmp_dir
from .schema import SchemaError, TranscriptLine
from .spoken import spoken_form

# meta.json `realtime_lag_s` above this: the audio path fell far enough behind real time to distort
# the timing (a room whose agents ran short of CPU); such a conversation is not valid
LAG_LIMIT_S = 0.5

def write_conversation(run: Path, job_id: str, rec, meta: dict,  # noqa: ANN001 - a recording.Recording
                       finish: Callable[[Path], dict] | None = None) -> Path:
    """Write transcript, tracks, mix and meta of a finished conversation; it appears under its
    id only when complete (an earlier attempt's folder is replaced). `finish(folder)` adds files
    made from the tracks (the impaired copies) before then, and returns what meta.json adds."""
    final, tmp = conversation_dir(run, job_id), tmp_dir(run, job_id)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "tracks").mkdir(parents=True)
        with jsonlines.open(tmp / "transcript.jsonl", "w") as w:
            w.write_all(TranscriptLine.from_dict(turn_record(asdict(t), meta)).to_dict() for t in rec.turns)
        paths = []
        for role, pcm in rec.tracks.items():
            paths.append(tmp / "tracks" / f"{role}.wav")
            write_wav(paths[-1], pcm, rec.sample_rate)
        mix_mp3(paths, tmp / "mix.mp3")
        stereo_mp3(paths, tmp / "mix_stereo.mp3")
        if finish is not None:
            meta.update(finish(tmp))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def turn_record(turn: dict, meta: dict) -> dict:
    """A transcript line that says whose it is without meta.json: `segment_id`
    (<conversation id>-<turn:04d>), `persona_id`, `language`, `locale`, and `spoken`, the text as
    said (numbers, amounts, times and ids in words; unchanged where num2words lacks the language)."""
    persona = (meta.get("personas") or {}).get(turn["role"]) or {}
    language = persona.get("language") or (meta.get("scenario") or {}).get("language")
    extra = {"segment_id": f"{meta['id']}-{turn['turn']:04d}" if meta.get("id") else None,
             "persona_id": persona.get("id"), "language": language, "locale": persona.get("locale")}
    spoken = spoken_form(turn["text"], language) if language and turn.get("text") else None
    return {**turn, **extra, "spoken": turn.get("text") if spoken is None else spoken}


def conversation_files(meta: dict) -> list[str]:
    """The files a complete conversation with this meta.json holds, besides meta.json itself
    (mix_stereo.mp3 since 1.2, told by meta.json's `facts`, also 1.2)."""
    files = ["transcript.jsonl", "mix.mp3", *(f"tracks/{role}.wav" for role in meta.get("personas") or {})]
    return files + (["mix_stereo.mp3"] if "facts" in meta else [])


def write_error(run: Path, job_id: str, text: str) -> None:
    """A failed conversation: its folder holds error.txt (the traceback or the reason) only."""
    folder = conversation_dir(run, job_id)
    shutil.rmtree(tmp_dir(run, job_id), ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomic(folder / "error.txt", text if text.endswith("\n") else text + "\n")


def read_meta(folder: Path) -> dict | str | None:
    """A conversation's meta.json: the object, what is wrong with it, or None when there is none."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        return f"meta.json is damaged ({e})"
    return meta if isinstance(meta, dict) else "meta.json is not a JSON object"


def read_error(folder: Path) -> str | None:
    """The last line of a failed conversation's error.txt (the exception), or None."""
    path = Path(folder) / "error.txt"
    if not path.is_file():
        return None
    lines = path.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "failed"


def read_lines(path: Path) -> list[tuple[int, object]]:
    """A JSONL file's records by line number; a line that is not JSON (or is null) comes back as
    its jsonlines.InvalidLineError. A missing file has no lines."""
    if not Path(path).is_file():
        return []
    out: list[tuple[int, object]] = []
    with open(path, "rb") as f:
        reader = jsonlines.Reader(f)
        while True:
            try:
                out.append((len(out) + 1, reader.read(allow_none=False)))
            except EOFError:
                return out
            except jsonlines.InvalidLineError as e:
                out.append((len(out) + 1, e))


def read_transcript(folder: Path) -> list[TranscriptLine]:
    """transcript.jsonl's lines; a missing file has none. Raises SchemaError naming the line and
    field of the first line that is not JSON or not a transcript line (OSError if unreadable)."""
    out = []
    for n, d in read_lines(Path(folder) / "transcript.jsonl"):
        if isinstance(d, jsonlines.InvalidLineError):
            raise SchemaError(f"transcript.jsonl line {n}: not JSON")
        try:
            out.append(TranscriptLine.from_dict(d))
        except SchemaError as e:
            raise SchemaError(f"transcript.jsonl line {n}: {e}") from None
    return out
