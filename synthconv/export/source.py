"""The complete conversations of a run, read once through the run folder contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RunFolderError
from ..runfolder import conversation_dir, read_index, read_meta, read_run_info, read_transcript


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


def complete_conversations(run: Path, audio: str = "clean") -> tuple[dict, list[Conversation]]:
    """run.json and every conversation the index lists as ok, in plan order; a listed
    conversation whose folder is incomplete or damaged is an error naming it, and so is one
    without impaired audio when `audio` is "impaired"."""
    info = read_run_info(run)
    ok = {r.id for _, r in read_index(run) if not isinstance(r, str) and r.ok}
    out = []
    for job in info["jobs"]:
        if job["id"] not in ok:
            continue
        folder = conversation_dir(run, job["id"])
        meta = read_meta(folder)
        if not isinstance(meta, dict):
            raise RunFolderError(f"{folder}: {meta or 'no meta.json'}; see `synthconv inspect {run} --validate`")
        try:
            personas = meta["personas"]
            out.append(Conversation(
                id=job["id"], folder=folder, scenario=meta["scenario"]["id"], domain=meta["scenario"]["domain"],
                language=meta["scenario"]["language"], roles={r: p["id"] for r, p in personas.items()},
                speakers={r: p["name"] for r, p in personas.items()},
                locales={r: p.get("locale", meta["scenario"]["language"]) for r, p in personas.items()},
                sample_rate=meta["impaired"]["sample_rate"] if audio == "impaired" else meta["sample_rate"],
                duration_s=meta["duration_s"], turns=[t.to_dict() for t in read_transcript(folder)], meta=meta,
                audio=audio))
        except KeyError as e:
            if audio == "impaired" and "impaired" not in meta:
                raise RunFolderError(f"--audio impaired: {job['id']} has no impaired audio; "
                                     f"run `synthconv impair {run} --impair ...` first") from None
            raise RunFolderError(f"{folder}: cannot be exported (KeyError: {e}); "
                                 f"see `synthconv inspect {run} --validate`") from None
        except (TypeError, OSError, ValueError) as e:
            raise RunFolderError(f"{folder}: cannot be exported ({type(e).__name__}: {e}); "
                                 f"see `synthconv inspect {run} --validate`") from None
    if not out:
        raise RunFolderError(f"{run}: no complete conversation to export")
    return info, out
