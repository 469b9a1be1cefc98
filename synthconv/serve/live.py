"""Conversations started over the API, live in a LiveKit room: `POST /api/v1/conversations`.

Each one is `synthconv generate --transport livekit --count 1` in a process of its own (the same
code, the same run folder contract, its own local agent worker), into a new run under the runs
folder, in a room this module names so it can hand the browser an observer token for it. The
token is minted here, hidden, subscribe-only and short-lived; the LiveKit key and secret stay in
this process and its children's environment and never appear in a response. At most
`max_running` run at once (`serve --max-live`): each is a generate with its own agent worker, and
six POSTs in 0.05 s used to start six.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from ..engine import ENGINES
from ..runfolder import RunFolderError, SchemaError, conversation_dir, read_transcript
from ..runfolder.view import read_run
from ..scenario import Library
from ..transport.protocol import ROOM_ENV, identity
from ..transport.timing import TURN_TAKING
from .models import Choices, LiveRow, PersonaChoice, RoleChoice, ScenarioChoice

TOKEN_TTL = timedelta(minutes=10)
AGENT_STATE = "lk.agent.state"  # livekit-agents' participant attribute (listening, thinking, speaking)


class Refused(ValueError):
    """A request naming an unknown scenario, persona, role, engine or turn-taking mode."""


class Busy(RuntimeError):
    """As many conversations as this server may run at once are running."""


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
    engine: str
    turn_taking: str
    started_at: str
    proc: subprocess.Popen
    log: Path
    was_live: bool = False  # both agents were seen in the room: once they leave, the run is being written


class Conversations:
    """The conversations this server started, by id."""

    def __init__(self, runs: Path, library: Library, livekit: LiveKit, scenarios_dir: Path, personas_dir: Path,
                 max_running: int = 2) -> None:
        self.runs, self.library, self.livekit = runs, library, livekit
        self.dirs = (scenarios_dir, personas_dir)
        self.max_running = max_running
        self.started: dict[str, Started] = {}
        self._lock = threading.Lock()  # requests run in a thread pool: count and start as one step

    def running(self) -> list[Started]:
        return [s for s in self.started.values() if s.proc.poll() is None]

    def start(self, scenario: str, personas: dict[str, str], engine: str, turn_taking: str = "natural") -> Started:
        sc = self.library.scenarios.get(scenario)
        if sc is None:
            raise Refused(f"scenario: unknown scenario {scenario!r} (see `synthconv scenarios`)")
        if engine not in ENGINES:
            raise Refused(f"engine: unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        if turn_taking not in TURN_TAKING:
            raise Refused(f"turn_taking: unknown mode {turn_taking!r} (choose from {', '.join(TURN_TAKING)})")
        for role, persona in personas.items():
            if role not in sc.roles:
                raise Refused(f"personas: {scenario} has no role {role!r} (it has {', '.join(sc.role_keys)})")
            if persona not in sc.roles[role].personas:
                raise Refused(f"personas.{role}: {persona!r} is not in the {role} pool of {scenario} "
                              f"({', '.join(sc.roles[role].personas)})")
        now = datetime.now(UTC)
        cid = f"live-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        room = f"synthconv-{cid}"
        out = self.runs / cid
        log = self.runs / f".{cid}.log"  # beside the run: generate wants an empty --out
        args = [sys.executable, "-m", "synthconv.cli", "generate", "--transport", "livekit", "--count", "1",
                "--seed", str(secrets.randbelow(2**31)), "--scenario", scenario, "--engine", engine, "--out", str(out),
                "--turn-taking", turn_taking, "--scenarios-dir", str(self.dirs[0]),
                "--personas-dir", str(self.dirs[1]), "--retries", "0", "--yes"]
        for persona in personas.values():
            args += ["--persona", persona]
        env = {**os.environ, ROOM_ENV: room, "LIVEKIT_URL": self.livekit.url,
               "LIVEKIT_API_KEY": self.livekit.api_key, "LIVEKIT_API_SECRET": self.livekit.api_secret}
        with self._lock:
            running = len(self.running())
            if running >= self.max_running:
                raise Busy(f"{running} conversation{'s' if running != 1 else ''} started here "
                           f"{'are' if running != 1 else 'is'} still running, as many as this server runs at once "
                           f"(serve --max-live {self.max_running}): wait for one to end")
            with open(log, "wb") as f:
                proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            self.started[cid] = Started(cid, room, scenario, engine, turn_taking, now.isoformat(timespec="seconds"),
                                        proc, log)
        return self.started[cid]

    def rows(self) -> list[LiveRow]:
        """Every conversation started here, oldest first: running, or how it ended (ok only when
        its run says so)."""
        out = []
        for s in list(self.started.values()):
            state: Literal["running", "ok", "failed"] = "running" if s.proc.poll() is None else "failed"
            if state == "failed" and s.proc.returncode == 0:
                try:
                    state = "ok" if read_run(self.runs / s.id)["conversations"][0]["status"] == "ok" else "failed"
                except (RunFolderError, IndexError, KeyError):
                    pass
            out.append(LiveRow(id=s.id, scenario=s.scenario, engine=s.engine, turn_taking=s.turn_taking,
                               started_at=s.started_at, state=state))
        return out

    def choices(self) -> Choices:
        """What the page's form offers: every scenario with its roles (in speaking order) and the
        persona files that may play each, the engines and the turn-taking modes."""
        lib = self.library
        scenarios = [ScenarioChoice(id=sc.id, title=sc.title, language=sc.language, roles=[
            RoleChoice(key=role, label=sc.roles[role].label, personas=[
                PersonaChoice(id=p, name=lib.personas[p].name) for p in sc.roles[role].personas if p in lib.personas])
            for role in sc.role_keys]) for sc in sorted(lib.scenarios.values(), key=lambda sc: sc.title)]
        return Choices(scenarios=scenarios, engines=list(ENGINES), turn_taking=list(TURN_TAKING))

    async def status(self, cid: str) -> dict:
        """dispatching, live (both agents in the room), recording (the call ended, the run is being
        written), ok, or failed with its error; the agents and their state; the turns once written."""
        s = self.started[cid]
        out: dict[str, Any] = {"id": cid, "room": s.room, "scenario": s.scenario, "participants": [], "turns": [], "error": None}
        run = self.runs / cid
        job = row = None
        if (run / "run.json").is_file():
            try:
                view = read_run(run)
                job, row = view["info"]["jobs"][0], view["conversations"][0]
                out["conversation"] = job["id"]
            except (RunFolderError, IndexError, KeyError):
                job = row = None
        if s.proc.poll() is not None:
            if job and row and row["status"] == "ok":
                try:
                    turns = [t.to_dict() for t in read_transcript(conversation_dir(run, job["id"]))]
                    return {**out, "state": "ok", "turns": turns}
                except (OSError, RunFolderError, SchemaError) as e:
                    return {**out, "state": "failed", "error": f"the recorded conversation cannot be read ({e})"}
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
