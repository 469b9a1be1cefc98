"""Real lhotse writes the golden manifests for the fixture run: the objects are built with
lhotse's own classes (Recording.from_file reads the exported WAVs; SupervisionSegment with
AlignmentItems; CutSet.from_manifests) and saved with its own `to_file`, so the goldens are
lhotse's schema and serialization, not ours. Run with a Python that has lhotse (and torch):

    synthconv export tests/export/lhotse_fixture/run --out EXPORT -f lhotse --split 50/25/25 --split-by conversation
    LHOTSE_PYTHON tests/export/lhotse_fixture/make_golden.py EXPORT tests/export/lhotse_fixture/golden

(`make test-lhotse` does this into a scratch folder and compares with golden/.) Imports only
lhotse and the standard library.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.supervision import AlignmentItem

RUN = Path(__file__).resolve().parent / "run"


def supervision(cid: str, meta: dict, t: dict) -> SupervisionSegment:
    """A turn as the card documents it: on its speaker's track, persona id as speaker."""
    persona = meta["personas"][t["role"]]
    language = meta["scenario"]["language"]
    words = t.get("words")
    return SupervisionSegment(
        id=t["segment_id"], recording_id=f"{cid}-{t['role']}", start=float(t["start"]),
        duration=round(t["end"] - t["start"], 3), channel=0, text=t["text"], language=language,
        speaker=persona["id"], gender=persona.get("gender"),
        custom={"conversation_id": cid, "role": t["role"], "speaker_name": persona["name"],
                "locale": persona.get("locale") or language, "kind": t["kind"], "interrupted": t["interrupted"],
                "spoken": t["spoken"]},
        alignment={"word": [AlignmentItem(w["word"], float(w["start"]), round(w["end"] - w["start"], 3))
                            for w in words]} if words else None)


def main(export: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(export)  # the audio paths in the manifests are relative to the export folder
    jobs = [j["id"] for j in json.loads((RUN / "run.json").read_text())["jobs"]]
    for split_dir in sorted(Path("audio").iterdir()):
        split = split_dir.name
        recordings, supervisions = [], []
        for cid in [j for j in jobs if (split_dir / j).is_dir()]:  # plan order
            folder = RUN / "conversations" / cid
            meta = json.loads((folder / "meta.json").read_text())
            for key in [*meta["personas"], "mix"]:
                recordings.append(Recording.from_file(f"audio/{split}/{cid}/{key}.wav", recording_id=f"{cid}-{key}"))
            turns = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
            supervisions += [supervision(cid, meta, t) for t in turns]
        recs, sups = RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)
        recs.to_file(out / f"synthconv_recordings_{split}.jsonl.gz")
        sups.to_file(out / f"synthconv_supervisions_{split}.jsonl.gz")
        CutSet.from_manifests(recordings=recs, supervisions=sups).to_file(out / f"synthconv_cuts_{split}.jsonl.gz")
        print(f"{split}: {len(recs)} recordings, {len(sups)} supervisions")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
