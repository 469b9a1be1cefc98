"""How an agent under test behaved in one call, measured from the tracks (never from events).

Speech is the contract's: samples above runfolder.audio.SILENT, in regions whose pauses under
GAP_S are bridged. The caller's lines are its turns (its own track, so they bracket its speech).

- `response_latency_s`: for each agent reply, the start of the agent's speech minus the end of
  the caller's line before it (`gap_s`), less the transit (`transit_s`) the caller's sound took
  from leaving synthconv to reaching the recorder. Every sound reaches the recorder one transit
  late: the caller's end as much as the agent's start, but the agent heard the caller's end one
  transit late too, so the gap the recorder sees is the agent's own latency plus one transit
  (0.03 s on an idle machine, 0.2-0.4 s measured on a loaded 2-core one). The agent's own hops
  (hearing the caller, reaching the recorder) are taken to equal the caller's: when one of them
  spikes on a loaded machine, that reply is off by the spike (0.62 s seen once). A reply is agent speech
  that starts after caller speech with no agent speech in between, and not inside a caller line
  (that is talking over).
- `barge_ins` / `yield_s`: each caller line that starts while the agent speaks is a barge-in;
  the agent yielded at the end of its last speech before the caller's line ended, if it stayed
  silent from there to that end and stopped within YIELD_WINDOW_S of the caller's onset:
  `yield_s` is that moment minus the onset. It is null when the agent was still speaking when
  the caller's line ended, or talked on longer than the window (it finished its sentence; an
  agent whose line happened to end within the window cannot be told from one that yielded).
- `talk_over`: agent speech that starts inside a caller line (the agent came in over it).
- `long_silences`: stretches of LONG_SILENCE_S or more with nobody speaking, between the first
  and the last speech of the call, with who spoke last.
- `talk_ratio`: the agent's share of all speech time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..runfolder.audio import speech_regions

GAP_S = 0.25  # pauses shorter than this are inside one stretch of speech (between words)
LONG_SILENCE_S = 3.0
YIELD_WINDOW_S = 3.0  # an agent still talking this long after the caller came in did not yield


def regions(track: np.ndarray, rate: int, gap_s: float = GAP_S) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of the contract's speech in `track`."""
    return speech_regions(track, rate, gap_s)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


@dataclass
class Measures:
    """One call's figures (meta.json `agent_under_test`, less the checks)."""

    replies: list[dict] = field(default_factory=list)  # {turn, at, after_turn, latency_s}
    barge_ins: list[dict] = field(default_factory=list)  # {turn, at, yield_s}
    talk_over: list[dict] = field(default_factory=list)  # {turn, at, overlap_s}
    long_silences: list[dict] = field(default_factory=list)  # {at, duration_s, after}
    talk_ratio: float | None = None
    speech_s: dict[str, float] = field(default_factory=dict)  # role -> seconds of speech
    turns: dict[str, int] = field(default_factory=dict)  # role -> turns
    duration_s: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return [r["latency_s"] for r in self.replies]

    @property
    def yields(self) -> list[float | None]:
        return [b["yield_s"] for b in self.barge_ins]

    def to_dict(self) -> dict:
        lat = self.latencies
        return {
            "response_latency_s": lat,
            "latency_p50_s": percentile(lat, 50), "latency_p95_s": percentile(lat, 95),
            "replies": self.replies,
            "yield_s": self.yields, "barge_ins": self.barge_ins, "yield_window_s": YIELD_WINDOW_S,
            "talk_over": self.talk_over, "talk_over_s": round(sum(t["overlap_s"] for t in self.talk_over), 3),
            "long_silences": self.long_silences, "long_silence_threshold_s": LONG_SILENCE_S,
            "talk_ratio": self.talk_ratio, "speech_s": self.speech_s, "turns": self.turns,
            "duration_s": self.duration_s,
        }


def measure(turns: list[dict], tracks: dict[str, np.ndarray], rate: int, agent: str, caller: str,  # noqa: C901
            transit: dict[int, float] | None = None) -> Measures:
    """The figures of one call: `turns` are transcript lines (role, start, end, turn, kind), the
    tracks are on one clock; `agent` is the role under test, `caller` the role synthconv played;
    `transit`: caller turn -> how long its sound took to reach the recorder (see the module)."""
    transit = transit or {}
    said = [t for t in turns if t["role"] == caller and t.get("kind", "turn") == "turn"]
    agent_turns = [t for t in turns if t["role"] == agent and t.get("kind", "turn") == "turn"]
    speech = regions(tracks[agent], rate)
    m = Measures(turns={agent: len(agent_turns), caller: len(said)},
                 duration_s=round(len(tracks[agent]) / rate, 3))

    def agent_turn_at(t: float) -> int | None:
        return next((x["turn"] for x in agent_turns if x["start"] - 0.01 <= t <= x["end"] + 0.01), None)

    def speaking_at(t: float) -> bool:
        return any(a <= t < b for a, b in speech)

    previous_end = float("-inf")  # where the agent's previous stretch of speech ended
    for a, b in speech:
        inside = next((c for c in said if c["start"] < a < c["end"]), None)
        if inside is not None and not speaking_at(inside["start"]):
            m.talk_over.append({"turn": agent_turn_at(a), "at": round(a, 3),
                                "overlap_s": round(min(b, inside["end"]) - a, 3)})
        elif inside is None:
            before = [c for c in said if previous_end < c["end"] <= a]
            if before:
                c = before[-1]
                gap, hop = a - c["end"], transit.get(c["turn"])
                m.replies.append({"turn": agent_turn_at(a), "at": round(a, 3), "after_turn": c["turn"],
                                  "latency_s": round(max(0.0, gap - (hop or 0.0)), 3), "gap_s": round(gap, 3),
                                  "transit_s": hop})
        previous_end = b

    for c in said:
        onset = c["start"]
        if not speaking_at(onset):
            continue
        stopped = None  # the end of the agent's last speech while the caller's line lasted
        for a, b in speech:
            if b > onset and a < c["end"]:
                stopped = b
        kept_on = stopped is None or stopped >= c["end"] or stopped - onset > YIELD_WINDOW_S
        m.barge_ins.append({"turn": c["turn"], "at": round(onset, 3),
                            "yield_s": None if kept_on else round(stopped - onset, 3)})

    theirs = regions(tracks[caller], rate)
    end, last = None, None
    for a, b, who in sorted([(a, b, agent) for a, b in speech] + [(a, b, caller) for a, b in theirs]):
        if end is not None and a - end >= LONG_SILENCE_S:
            m.long_silences.append({"at": round(end, 3), "duration_s": round(a - end, 3), "after": last})
        if end is None or b > end:
            end, last = b, who
    m.speech_s = {agent: round(sum(b - a for a, b in speech), 3), caller: round(sum(b - a for a, b in theirs), 3)}
    total = sum(m.speech_s.values())
    m.talk_ratio = round(m.speech_s[agent] / total, 3) if total else None
    return m
