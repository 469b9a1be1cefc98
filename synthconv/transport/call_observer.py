"""The hidden observer of a call with an agent under test (transport/caller.py).

It is livekit.Observer (hidden, subscribe-only, both tracks on one clock) with what a call with
somebody else's agent needs besides: the agent's identity is known only once it joined; its
turns' words are its own `lk.transcription` segments (about its audio track); what it heard of
the caller is its final transcripts about the caller's track (the caller publishes none of its
own); the caller's lines come from the caller in this process, with when each sound of it left
(`sent`), so the recording knows how long a sound takes to reach it (`transit`).
"""

from __future__ import annotations

import time

import numpy as np
from livekit import rtc
from livekit.agents.types import ATTRIBUTE_TRANSCRIPTION_FINAL, ATTRIBUTE_TRANSCRIPTION_TRACK_ID, TOPIC_TRANSCRIPTION

from ..job import ResolvedJob
from ..recording import Recording, Turn
from ..runfolder.audio import loud, speech_regions
from ..runfolder.labels import disfluencies
from .livekit import SAMPLE_RATE, Observer

LEAD_S = 0.15  # a caller line's audio reaches the observer after its playout started; search from before
TRANSIT_MAX_S = 1.5  # a sound that took longer to arrive was another one
LEAD_IN_KEPT_S = 1e6  # nothing is cut before the first speech (the call's times stay the observer's)
MERGE_GAP_S = 1.2  # the agent's pauses inside one turn (between sentences) are shorter than this


class CallObserver(Observer):
    """The hidden observer of a call with an agent under test. Besides both tracks it reads
    `lk.transcription`: the agent's segments about its own audio are its turns' text, the final
    transcripts about the caller's track are what the agent heard (`heard` of the caller's
    lines). The caller's own lines come from the caller in this process (`lines`)."""

    def __init__(self, played: ResolvedJob, caller_ident: str) -> None:
        super().__init__(played.roles, played.job, played.scenario.language)
        assert played.under_test is not None
        self.agent_role = played.under_test.role
        self.caller_role = played.peer(self.agent_role)
        self.caller_ident = caller_ident
        self.identities = {caller_ident: self.caller_role}  # the agent's once it has joined (watch)
        self.agent_ident: str | None = None
        self.recorded: set[str] = set()  # track sids being recorded
        self.segments: list[dict] = []  # the agent's transcript: {text, opened, closed}
        self.agent_heard: list[dict] = []  # its final transcripts of the caller: {text, at}
        self.caller_lines: list[dict] = []  # the caller's lines: {text, start, end, interrupted, intended}
        self.caller_heard: list[dict] = []  # what the caller heard of the agent: {text, at}
        self.sent: list[tuple[float, float]] = []  # the caller's sound as it left: (start, end) per frame
        self.transit: dict[int, float] = {}  # caller turn -> how long its sound took to reach us (s)
        self.room.register_text_stream_handler(TOPIC_TRANSCRIPTION, self._on_transcription)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def watch(self, agent_ident: str) -> None:
        """Record the agent, whose identity is known once it joined (its tracks may already be in)."""
        self.agent_ident = agent_ident
        self.identities[agent_ident] = self.agent_role
        p = self.room.remote_participants.get(agent_ident)
        if p is None:  # not in the room: no tracks to record yet
            return
        for pub in p.track_publications.values():
            if pub.track is not None:
                self._on_track(pub.track, pub, p)

    def _on_track(self, track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        if pub.sid in self.recorded or p.identity not in self.identities or track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        self.recorded.add(pub.sid)
        super()._on_track(track, pub, p)

    def _tracks_of(self, ident: str | None) -> set[str]:
        p = self.room.remote_participants.get(ident or "")
        return {pub.sid for pub in p.track_publications.values()} if p else set()

    def _on_transcription(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        attributes = reader.info.attributes or {}
        track = attributes.get(ATTRIBUTE_TRANSCRIPTION_TRACK_ID)
        opened = self.now()

        async def read() -> None:
            text = (await reader.read_all()).strip()
            if not text:
                return
            about_caller = participant_identity == self.caller_ident or (track and track in self._tracks_of(self.caller_ident))
            if about_caller:
                if attributes.get(ATTRIBUTE_TRANSCRIPTION_FINAL) == "true":
                    self.agent_heard.append({"text": text, "at": self.now()})
            elif participant_identity == self.agent_ident:
                self.segments.append({"text": text, "opened": opened, "closed": self.now()})

        self._spawn(read())

    def recording(self, until: float | None = None) -> Recording:  # type: ignore[override]
        """What was recorded, up to `until` (when the caller hung up: what the agent said to an
        empty line is no part of the call)."""
        rec = super().recording(lead_in_s=LEAD_IN_KEPT_S)  # one clock: the caller's lines and `until` are on it
        if until is None or int(until * rec.sample_rate) >= len(next(iter(rec.tracks.values()))):
            return rec
        rec.tracks = {r: t[: int(until * rec.sample_rate)] for r, t in rec.tracks.items()}
        rec.turns = [t for t in rec.turns if t.start < until - 0.05]
        for i, t in enumerate(rec.turns):
            t.turn, t.end = i, min(t.end, round(until, 3))
        return rec

    def _turns(self, tracks: dict[str, np.ndarray]) -> list[Turn]:
        mine = self._caller_turns(tracks[self.caller_role])
        turns = sorted(mine + self._agent_turns(tracks[self.agent_role]), key=lambda t: t.start)
        for i, t in enumerate(turns):
            t.turn = i
        self.transit = {t.turn: x for t in mine if (x := self._transit(t)) is not None}
        return turns

    def _transit(self, turn: Turn) -> float | None:
        """How long the end of the caller's `turn` took from leaving its audio source to reaching
        this observer: the one hop every sound in the room takes (0.03 s on an idle machine, 0.2-0.4 s
        on a loaded one, measured), taken off the gaps measure.py turns into latencies."""
        ends = [b for _, b in self.sent if turn.start < b <= turn.end + 0.01]
        return round(turn.end - max(ends), 3) if ends and 0 <= turn.end - max(ends) < TRANSIT_MAX_S else None

    def _caller_turns(self, track: np.ndarray) -> list[Turn]:
        """One turn per line the caller played: its speech in the caller's track from the line's
        start to the next line's (the caller's clock is the observer's: one process)."""
        speech = np.flatnonzero(loud(track))
        turns = []
        starts = [int(max(0.0, line["start"] - LEAD_S) * SAMPLE_RATE) for line in self.caller_lines] + [len(track)]
        for line, a, b in zip(self.caller_lines, starts, starts[1:]):
            inside = speech[(speech >= a) & (speech < b)]
            if not len(inside) or not line["text"]:
                continue
            turns.append(Turn(turn=0, role=self.caller_role, speaker=self.caller_role, text=line["text"],
                              start=round(inside[0] / SAMPLE_RATE, 3), end=round((inside[-1] + 1) / SAMPLE_RATE, 3),
                              interrupted=line["interrupted"], intended=line["intended"] if line["interrupted"] else None,
                              heard=None, disfluencies=disfluencies(line["text"], self.language)))
        _label(turns, self.agent_heard, "heard")
        return turns

    def _agent_turns(self, track: np.ndarray) -> list[Turn]:
        """The agent's speech regions (pauses under MERGE_GAP_S merged), each labelled with the
        transcript segments that ended in it, else with what the caller heard there."""
        turns = [Turn(turn=0, role=self.agent_role, speaker=self.agent_role, text="", start=round(a, 3),
                      end=round(b, 3), interrupted=False, heard=None)
                 for a, b in speech_regions(track, SAMPLE_RATE, MERGE_GAP_S)]
        _label(turns, [{"text": s["text"], "at": s["closed"]} for s in self.segments], "text")
        _label(turns, self.caller_heard, "heard")
        for t in turns:
            t.text = t.text or (t.heard or "")  # an agent publishing no transcript: what the caller heard
            t.disfluencies = disfluencies(t.text, self.language)
        return turns


def _label(turns: list[Turn], texts: list[dict], field: str) -> None:
    """Each text goes to the last turn that started before it arrived (all texts of one turn
    joined); a text before every turn goes to the first."""
    joined: dict[int, list[str]] = {}
    for x in sorted(texts, key=lambda x: x["at"]):
        started = [i for i, t in enumerate(turns) if t.start <= x["at"] + 0.05]
        if turns:
            joined.setdefault(started[-1] if started else 0, []).append(x["text"])
    for i, parts in joined.items():
        setattr(turns[i], field, " ".join(parts))
