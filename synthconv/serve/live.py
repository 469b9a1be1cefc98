"""Conversations started over the API, live in a LiveKit room: `POST /api/v1/conversations`.

Each one is `synthconv generate --transport livekit --count 1` in a process of its own (the same
code, the same run folder contract, its own local agent worker), into a new run under the runs
folder, in a room this module names so it can hand the browser an observer token for it. The
token is minted here, hidden, subscribe-only and short-lived; the LiveKit key and secret stay in
this process and its children's environment and never appear in a response.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..engine import ENGINES
from ..runfolder.view import read_run
from ..runfolder import RunFolderError, read_transcript
from ..scenario import Library
from ..transport.protocol import ROOM_ENV, identity

TOKEN_TTL = timedelta(minutes=10)
AGENT_STATE = "lk.agent.state"  # livekit-agents' participant attribute (listening, thinking, speaking)


class Refused(ValueError):
    """A request naming an unknown scenario, persona, role or engine."""


@dataclass(frozen=True)
class LiveKit:
    url: str
    api_key: str
    api_secret: str

    def observer_token(self, room: str) -> str:
        """Hidden, subscribe-only, TOKEN_TTL long: the browser can listen to the room and nothing else."""
        from livekit import api

        grants = api.VideoGrants(room_join=True, room=room, hidden=True, can_subscribe=True, can_publish=False,
                                 can_publish_data=False, can_update_own_metadata=False)
        return (api.AccessToken(self.api_key, self.api_secret).with_identity(f"viewer-{secrets.token_hex(4)}")
                .with_grants(grants).with_ttl(TOKEN_TTL).to_jwt())


@dataclass
class Started:
    id: str  # the run folder's name under --runs
    room: str
    scenario: str
    proc: subprocess.Popen
    log: Path
    was_live: bool = False  # both agents were seen in the room: once they leave, the run is being written


class Conversations:
    """The conversations this server started, by id."""

    def __init__(self, runs: Path, library: Library, livekit: LiveKit, scenarios_dir: Path, personas_dir: Path) -> None:
        self.runs, self.library, self.livekit = runs, library, livekit
        self.dirs = (scenarios_dir, personas_dir)
        self.started: dict[str, Started] = {}

    def start(self, scenario: str, personas: dict[str, str], engine: str) -> Started:
        sc = self.library.scenarios.get(scenario)
        if sc is None:
            raise Refused(f"scenario: unknown scenario {scenario!r} (see `synthconv scenarios`)")
        if engine not in ENGINES:
            raise Refused(f"engine: unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        for role, persona in personas.items():
            if role not in sc.roles:
                raise Refused(f"personas: {scenario} has no role {role!r} (it has {', '.join(sc.role_keys)})")
            if persona not in sc.roles[role].personas:
                raise Refused(f"personas.{role}: {persona!r} is not in the {role} pool of {scenario} "
                              f"({', '.join(sc.roles[role].personas)})")
        cid = f"live-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        room = f"synthconv-{cid}"
        out = self.runs / cid
        log = self.runs / f".{cid}.log"  # beside the run: generate wants an empty --out
        args = [sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--count", "1",
                "--seed", str(secrets.randbelow(2**31)), "--scenario", scenario, "--engine", engine, "--out", str(out),
                "--scenarios-dir", str(self.dirs[0]), "--personas-dir", str(self.dirs[1]), "--retries", "0", "--yes"]
        for persona in personas.values():
            args += ["--persona", persona]
        env = {**os.environ, ROOM_ENV: room, "LIVEKIT_URL": self.livekit.url,
               "LIVEKIT_API_KEY": self.livekit.api_key, "LIVEKIT_API_SECRET": self.livekit.api_secret}
        with open(log, "wb") as f:
            proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.started[cid] = Started(cid, room, scenario, proc, log)
        return self.started[cid]

    async def status(self, cid: str) -> dict:
        """dispatching, live (both agents in the room), recording (the call ended, the run is being
        written), ok, or failed with its error; the agents and their state; the turns once written."""
        s = self.started[cid]
        out = {"id": cid, "room": s.room, "scenario": s.scenario, "participants": [], "turns": [], "error": None}
        run = self.runs / cid
        job = None
        if (run / "run.json").is_file():
            try:
                view = read_run(run)
                job, row = view["info"]["jobs"][0], view["conversations"][0]
                out["conversation"] = job["id"]
            except (RunFolderError, IndexError, KeyError):
                view = row = None
        if s.proc.poll() is not None:
            if job and row and row["status"] == "ok":
                turns = [t.to_dict() for t in read_transcript(run / "conversations" / job["id"])]
                return {**out, "state": "ok", "turns": turns}
            error = (row or {}).get("error") or _last_line(s.log) or f"generate exited with {s.proc.returncode}"
            return {**out, "state": "failed", "error": error}
        if job:
            out["participants"] = await self._agents(s.room, job)
        if job and {p["role"] for p in out["participants"]} == set(job["roles"]):
            s.was_live = True
            return {**out, "state": "live"}
        return {**out, "state": "recording" if s.was_live else "dispatching"}

    async def _agents(self, room: str, job: dict) -> list[dict]:
        from livekit import api

        roles = {identity(job["id"], r): r for r in job["roles"]}
        try:
            async with api.LiveKitAPI(self.livekit.url, self.livekit.api_key, self.livekit.api_secret) as lk:
                res = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
        except api.TwirpError:
            return []  # no such room (yet, or any more)
        return [{"identity": p.identity, "role": roles[p.identity], "name": p.name,
                 "state": p.attributes.get(AGENT_STATE)} for p in res.participants if p.identity in roles]

    def stop_all(self) -> None:
        for s in self.started.values():
            if s.proc.poll() is None:
                s.proc.terminate()


def _last_line(log: Path) -> str | None:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None
