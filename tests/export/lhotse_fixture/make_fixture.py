"""Writes tests/export/lhotse_fixture/run/: a small run folder (4 conversations, 8 kHz tracks of about a
second, tone bursts where the turns are) through synthconv's own run-folder writers, so it is
what `generate` writes, only smaller. It covers what the Lhotse manifests must carry: drawn
personas with a gender and a persona file without, a dispatcher/driver call, Devanagari text,
a backchannel, an interrupted turn, and a turn without word timing.

    .venv/bin/python tests/export/lhotse_fixture/make_fixture.py   # then make_golden.py (see there)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from synthconv.job import Job
from synthconv.recording import Recording, Turn, Word
from synthconv.runfolder import IndexLine, write_conversation, write_index, write_run_info

HERE = Path(__file__).resolve().parent
RATE = 8000


def persona(pid: str, name: str, role: str, language: str, locale: str, gender: str | None) -> dict:
    p = {"id": pid, "name": name, "roles": [role], "language": language, "locale": locale,
         "voice": {"offline": {"voice": "en-us", "rate": 170, "pitch": 50, "range": 50}, "openai": "alloy"}}
    return {**p, "gender": gender} if gender else p


def words(text: str, start: float, end: float) -> list[Word]:
    tokens = [Word.bare(t) for t in text.split()]
    step = (end - start) / len(tokens)
    return [Word(w, round(start + i * step, 3), round(start + (i + 1) * step, 3)) for i, w in enumerate(tokens)]


def turn(n: int, role: str, speaker: str, text: str, start: float, end: float, **kw) -> Turn:
    timed = kw.pop("timed", True)
    return Turn(turn=n, role=role, speaker=speaker, text=text, start=start, end=end,
                interrupted=kw.pop("interrupted", False), heard=text,
                words=words(text, start, end) if timed else None, **kw)


CONVERSATIONS = [
    ("appointment-booking-1a2b3c4d", ("appointment-booking", "healthcare", "en"), 1.1, {
        "agent": persona("drawn-0a1b2c3d4e", "Maya Chen", "agent", "en", "en-US", "female"),
        "customer": persona("drawn-5f6a7b8c9d", "Tom Becker", "customer", "en", "en-GB", "male")},
     lambda a, c: [turn(0, "agent", a, "Riverside clinic, Maya speaking.", 0.05, 0.45),
                   turn(1, "customer", c, "mm-hmm", 0.3, 0.42, kind="backchannel"),
                   turn(2, "customer", c, "Hi, I'd like to book in.", 0.5, 0.8),
                   turn(3, "agent", a, "Of course, Thursday at 9:40?", 0.85, 1.05)]),
    ("wrong-delivery-address-5e6f7a8b", ("wrong-delivery-address", "logistics", "en"), 0.9, {
        "driver": persona("cust-tom-becker", "Tom Becker", "driver", "en", "en-GB", None),
        "dispatcher": persona("drawn-aa11bb22cc", "Ajay Rao", "dispatcher", "en", "en-IN", "male")},
     lambda d, s: [turn(0, "driver", d, "Dispatch, I'm at the drop and it's empty.", 0.02, 0.5),
                   turn(1, "dispatcher", s, "Okay, let me", 0.46, 0.62, interrupted=True,
                        intended="Okay, let me check the address."),
                   turn(2, "driver", d, "Unit 4B.", 0.64, 0.86)]),
    ("bank-card-block-hi-9c0d1e2f", ("bank-card-block-hi", "banking", "hi"), 1.0, {
        "agent": persona("drawn-1234abcd56", "राज शर्मा", "agent", "hi", "hi-IN", "male"),
        "customer": persona("drawn-77ee88ff99", "प्रिया वर्मा", "customer", "hi", "hi-IN", "female")},
     lambda a, c: [turn(0, "agent", a, "नमस्ते, मैं राज बोल रहा हूँ।", 0.1, 0.5),
                   turn(1, "customer", c, "मेरा कार्ड खो गया है।", 0.55, 0.95)]),
    ("refund-request-3a4b5c6d", ("refund-request", "retail", "en"), 0.75, {
        "agent": persona("drawn-0f0e0d0c0b", "Sam Ortiz", "agent", "en", "en-US", None),
        "customer": persona("drawn-9a8b7c6d5e", "Lena Park", "customer", "en", "en-US", "female")},
     lambda a, c: [turn(0, "agent", a, "Returns desk.", 0.0, 0.3, timed=False),
                   turn(1, "customer", c, "I need a refund, please.", 0.35, 0.7)]),
]


def tone(n: int, turns: list[Turn], role: str, freq: float) -> np.ndarray:
    """A tone burst where each of the role's turns is: speech for every reader of the track."""
    pcm = np.zeros(n, dtype=np.int16)
    for t in turns:
        if t.role == role:
            a, b = int(t.start * RATE) + 8, int(t.end * RATE) - 8
            pcm[a:b] = (8000 * np.sin(2 * np.pi * freq * np.arange(b - a) / RATE)).astype(np.int16)
    return pcm


def main() -> None:
    run = HERE / "run"
    shutil.rmtree(run, ignore_errors=True)
    (run / "conversations").mkdir(parents=True)
    jobs, results = [], {}
    for cid, (sid, domain, language), seconds, personas, script in CONVERSATIONS:
        roles = list(personas)
        turns = script(*(p["name"] for p in personas.values()))
        n = int(seconds * RATE)
        tracks = {r: tone(n, turns, r, 300 + 150 * i) for i, r in enumerate(roles)}
        job = Job(id=cid, scenario=sid, roles={r: p["id"] for r, p in personas.items()}, seed=len(jobs) + 1,
                  personas={r: p for r, p in personas.items() if p["id"].startswith("drawn-")})
        jobs.append(job)
        meta = {"id": cid, "scenario": {"id": sid, "title": f"A {domain} call", "domain": domain, "language": language},
                "branch": None, "outcome": [], "personas": personas, "engine": "offline", "transport": "local",
                "seed": job.seed, "turn_taking": "natural", "word_timing": "engine"}
        rec = Recording(RATE, tracks, turns, "modeled")
        meta.update(timing=rec.timing, sample_rate=RATE, duration_s=round(rec.duration, 3),
                    turns=sum(t.kind == "turn" for t in turns))  # as runner.conversation_meta ends it
        write_conversation(run, cid, rec, meta)
        results[cid] = IndexLine.for_job(job, "ok", duration_s=round(n / RATE, 3),
                                                  turns=sum(t.kind == "turn" for t in turns))
    write_index(run, jobs, results, final=True)
    write_run_info(run, {"flags": {"count": len(jobs), "seed": 1, "engine": "offline", "transport": "local",
                                   "impair": [], "out": "."},
                         "seed": 1, "count": len(jobs), "versions": {"synthconv": "fixture"},
                         "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:00:10+00:00",
                         "jobs": [j.to_dict() for j in jobs], "counts": {"planned": 4, "ok": 4, "failed": 0},
                         "stopped": None})
    print(f"wrote {run}")


if __name__ == "__main__":
    main()
