"""The HTTP API under /api/v1 (OpenAPI at /api/docs) and the pages, for one runs folder.

Every id in a URL is checked against the run folder names (runfolder/guards.py) and must resolve
inside the runs folder before it becomes a path. With a token (required by the CLI off loopback),
every /api/v1 call must carry it as `Authorization: Bearer` or the `synthconv_token` cookie the
page sets; without one, only loopback Host headers are answered, so a web page elsewhere cannot
read the runs through DNS rebinding.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import RunFolderError
from ..runfolder.validate import validate_conversation
from ..runfolder.view import read_run
from ..summary import summarize
from ..runfolder import NAME, SchemaError, conversation_dir, read_meta, read_transcript
from .live import TOKEN_TTL, Conversations, Refused

STATIC = Path(__file__).parent / "static"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # folder names such as 20261130-001200
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
BUILD_HINT = "the web pages are not built: run `make web` in a synthconv checkout (needs Node.js and npm)"


def pages_built() -> bool:
    return (STATIC / "index.html").is_file()


class NewConversation(BaseModel):
    scenario: str = Field(description="A scenario id (see `synthconv scenarios`)")
    personas: dict[str, str] = Field(default_factory=dict, description="Optionally a persona id per role")
    engine: str = Field("offline", description="offline, openai-realtime or openai-pipeline")


NO_LIVEKIT = ("this server has no LiveKit: start it with --livekit-url, --livekit-api-key and --livekit-api-secret "
              "(or LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")


def create_app(runs: Path, token: str | None = None, live: Conversations | None = None) -> FastAPI:
    """The API and pages over `runs`, a folder of run folders; `token` guards every API call;
    `live` starts conversations in LiveKit rooms (without it, POST /conversations answers 503)."""
    runs = Path(runs)
    app = FastAPI(title="synthconv", version="1", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Runs, conversations, transcripts and audio of a synthconv runs folder.")
    if token is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)

    def authorized(request: Request) -> None:
        if token is None:
            return
        given = request.cookies.get("synthconv_token") or ""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong API token", headers={"WWW-Authenticate": "Bearer"})

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(authorized)])

    def run_dir(run: str) -> Path:
        base = runs.resolve()
        if not RUN_ID.match(run) or (base / run).resolve().parent != base:
            raise HTTPException(400, f"{run!r} is not a run folder name")
        if not (runs / run / "run.json").is_file():
            raise HTTPException(404, f"no run {run!r} in {runs}")
        return runs / run

    def view(run: str) -> dict:
        try:
            return read_run(run_dir(run))
        except RunFolderError as e:
            raise HTTPException(422, str(e)) from None

    def row(run: str, cid: str) -> tuple[Path, dict]:
        v = view(run)
        found = next((r for r in v["conversations"] if r["id"] == cid), None)
        if found is None:
            raise HTTPException(404, f"no conversation {cid!r} in run {run!r}")
        try:
            return conversation_dir(Path(v["run"]), cid), found
        except RunFolderError as e:
            raise HTTPException(400, str(e)) from None

    @api.get("/runs", summary="Every run folder in the runs folder, newest first")
    def list_runs() -> dict:
        out = []
        folders = sorted((p for p in runs.iterdir() if (p / "run.json").is_file() and RUN_ID.match(p.name)),
                         key=lambda p: p.name, reverse=True) if runs.is_dir() else []
        for folder in folders:
            try:
                v = read_run(folder)
            except RunFolderError as e:
                out.append({"id": folder.name, "state": "unreadable", "error": str(e), "planned": 0, "by_status": {}})
                continue
            s, info = summarize(v), v["info"]
            out.append({"id": folder.name, "state": s["state"], "planned": s["planned"], "by_status": s["by_status"],
                        "started_at": info.get("started_at"), "ended_at": info.get("ended_at"),
                        "engine": info["flags"].get("engine"), "transport": info["flags"].get("transport")})
        out.sort(key=lambda r: r.get("started_at") or "", reverse=True)
        return {"runs": out}

    @api.get("/runs/{run}", summary="A run's summary, as `synthconv inspect RUN --json` prints it")
    def get_run(run: str) -> dict:
        v = view(run)
        return {**summarize(v), "run": run, "flags": v["info"]["flags"], "damage": v["damage"]}

    @api.get("/runs/{run}/conversations", summary="A run's conversations, optionally filtered")
    def list_conversations(run: str, scenario: str | None = Query(None), status: str | None = Query(None)) -> dict:
        rows = [r for r in view(run)["conversations"]
                if (not scenario or r["scenario"] == scenario) and (not status or r["status"] == status)]
        return {"conversations": rows}

    @api.get("/runs/{run}/conversations/{cid}",
             summary="One conversation: its line, meta.json, transcript, contract problems and audio URLs")
    def get_conversation(run: str, cid: str,
                         validate: bool = Query(True, description="false: skip the contract check (problems: null), "
                                                "which decodes the mix and takes most of this call's time")) -> dict:
        folder, r = row(run, cid)
        meta = read_meta(folder)
        try:
            transcript = [t.to_dict() for t in read_transcript(folder)]
        except (OSError, SchemaError) as e:
            transcript, damaged = [], [f"transcript.jsonl is damaged ({e})"]
        else:
            damaged = []
        problems = (validate_conversation(folder) or damaged) if r["status"] == "ok" and validate else []
        base = f"/api/v1/runs/{run}/conversations/{cid}"
        tracks = sorted(p.stem for p in (folder / "tracks").glob("*.wav") if NAME.match(p.stem))
        return {**r, "meta": meta if isinstance(meta, dict) else None, "transcript": transcript,
                "problems": problems if validate else None,
                "audio": {"mix": f"{base}/mix.mp3" if (folder / "mix.mp3").is_file() else None,
                          "tracks": {role: f"{base}/tracks/{role}.wav" for role in tracks}}}

    @api.get("/runs/{run}/conversations/{cid}/mix.mp3", summary="The mix (HTTP range requests)",
             response_class=FileResponse)
    def mix(run: str, cid: str) -> FileResponse:
        folder, _ = row(run, cid)
        return _file(folder / "mix.mp3", "audio/mpeg")

    @api.get("/runs/{run}/conversations/{cid}/tracks/{role}.wav", summary="One role's track (HTTP range requests)",
             response_class=FileResponse)
    def track(run: str, cid: str, role: str) -> FileResponse:
        if not NAME.match(role):
            raise HTTPException(400, f"{role!r} is not a role id")
        folder, _ = row(run, cid)
        return _file(folder / "tracks" / f"{role}.wav", "audio/wav")

    def started(cid: str):  # noqa: ANN202
        if live is None:
            raise HTTPException(503, NO_LIVEKIT)
        if cid not in live.started:
            raise HTTPException(404, f"no conversation {cid!r} was started by this server")
        return live.started[cid]

    @api.post("/conversations", status_code=201,
              summary="Start one conversation in a LiveKit room, as `generate --transport livekit --count 1` does")
    def new_conversation(body: NewConversation) -> dict:
        if live is None:
            raise HTTPException(503, NO_LIVEKIT)
        try:
            s = live.start(body.scenario, body.personas, body.engine)
        except Refused as e:
            raise HTTPException(422, str(e)) from None
        return {"id": s.id, "room": s.room, "livekit_url": live.livekit.url,
                "observer_token": live.livekit.observer_token(s.room),
                "token_ttl_s": int(TOKEN_TTL.total_seconds()),
                "status": f"/api/v1/conversations/{s.id}/status", "run": f"/api/v1/runs/{s.id}"}

    @api.get("/conversations/{cid}/status",
             summary="dispatching, live, recording, ok or failed (with its error); the agents and their state; turns")
    async def conversation_status(cid: str) -> dict:
        s = started(cid)
        return await live.status(s.id)

    @api.post("/conversations/{cid}/observer-token", summary="A new hidden, subscribe-only, short-lived token")
    def observer_token(cid: str) -> dict:
        s = started(cid)
        return {"room": s.room, "livekit_url": live.livekit.url, "observer_token": live.livekit.observer_token(s.room)}

    app.include_router(api)

    if pages_built():
        app.mount("/assets", StaticFiles(directory=STATIC / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    def index():  # noqa: ANN202 - the page, or how to build it
        if not pages_built():
            return PlainTextResponse(BUILD_HINT + "\n", status_code=503)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _file(path: Path, media_type: str) -> FileResponse:
    if not path.is_file():
        raise HTTPException(404, f"no {path.name} in this conversation")
    return FileResponse(path, media_type=media_type)
