"""An offline engine that misbehaves on purpose, for the batch robustness tests.

SYNTHCONV_TEST_FAULTS="refund=raise,outage=hang,plan-change=flaky" picks, per scenario id
(or * for all), what goes wrong when a job's session is built:
raise (a plain error), hang (blocks the worker's event loop for an hour), flaky (a transient
ConnectionError the first time, fine on the retry; the marker lives in SYNTHCONV_TEST_MARKERS).
"""

import os
import time
from pathlib import Path

from synthconv.engine.offline import OfflineEngine


class FaultyEngine(OfflineEngine):
    def __init__(self, hearing: str = "transcript", tts: str = "espeak") -> None:
        super().__init__(hearing, tts)  # the quickest voice: the faults are the point

    def build(self, speaker):
        faults = dict(f.split("=") for f in os.environ.get("SYNTHCONV_TEST_FAULTS", "").split(",") if f)
        fault = faults.get(speaker.scenario.id, faults.get("*"))
        if fault == "raise":
            raise RuntimeError("injected failure")
        if fault == "hang":
            time.sleep(3600)
        if fault == "flaky":
            marker = Path(os.environ["SYNTHCONV_TEST_MARKERS"]) / speaker.job.id
            if not marker.exists():
                marker.touch()
                raise ConnectionError("injected transient failure")
        return super().build(speaker)
