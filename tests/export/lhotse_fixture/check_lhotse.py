"""`make test-lhotse`, in a Python with lhotse (and torch): load an export's manifests with
`lhotse.load_manifest`, validate them with `lhotse.qa` reading the audio, rebuild the cuts from
the recordings and supervisions, and load each supervision's audio. Prints what it loaded;
exits non-zero on the first failure.

    LHOTSE_PYTHON tests/export/lhotse_fixture/check_lhotse.py EXPORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lhotse
from lhotse import CutSet, load_manifest
from lhotse.qa import validate, validate_recordings_and_supervisions


def main(export: Path) -> None:
    print(f"lhotse {lhotse.__version__}: {export}")
    splits = sorted({p.name.rsplit("_", 1)[1].split(".")[0] for p in (export / "lhotse").glob("synthconv_*.jsonl.gz")})
    assert splits, f"no manifests in {export / 'lhotse'}"
    for split in splits:
        name = export / "lhotse" / f"synthconv_{{}}_{split}.jsonl.gz"
        recordings = load_manifest(str(name).format("recordings"))
        supervisions = load_manifest(str(name).format("supervisions"))
        cuts = load_manifest(str(name).format("cuts"))
        kinds = (type(recordings).__name__, type(supervisions).__name__, type(cuts).__name__)
        assert kinds == ("RecordingSet", "SupervisionSet", "CutSet"), kinds
        recordings = recordings.with_path_prefix(export)
        cuts = cuts.with_recording_path_prefix(export)
        validate_recordings_and_supervisions(recordings, supervisions, read_data=True)
        validate(cuts, read_data=True)
        rebuilt = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
        assert [json.dumps(c.to_dict()) for c in rebuilt] == [json.dumps(c.to_dict()) for c in cuts], \
            "the cuts are not what CutSet.from_manifests makes of the recordings and supervisions"
        words = samples = 0
        for cut in cuts:
            for s in cut.supervisions:
                audio = cut.truncate(offset=s.start, duration=s.duration).load_audio()
                assert audio.shape[0] == 1 and audio.shape[1] > 0, (s.id, audio.shape)
                samples += audio.shape[1]
                words += len((s.alignment or {}).get("word", []))
        hours = sum(r.duration for r in recordings) / 3600
        print(f"{split}: {len(recordings)} recordings ({hours:.3f} h), {len(supervisions)} supervisions "
              f"({words} aligned words), {len(cuts)} cuts: loaded, validated with read_data=True, "
              f"{samples} samples of supervised audio read")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
