"""The HTTP API under /api/v1 (OpenAPI at /api/openapi.json, Swagger UI at /api/docs) and the pages,
for one runs folder.

Every id in a URL is checked against the run folder names (runfolder/names.py) and must resolve
inside the runs folder before it becomes a path; nothing follows a symbolic link (runs.py). With
a token (required by the CLI off loopback), every /api/v1 call must carry it as `Authorization:
Bearer` or the HttpOnly `synthconv_token` cookie that POST /api/v1/session sets for the page; it
is checked before the body is read (guard.py). Without one, only loopback Host headers are
answered, so a web page elsewhere cannot read the runs through DNS rebinding. A damaged
conversation is reported as that conversation's problem, never as a 500 for the run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import RunFolderError
from ..runfolder import NAME, SchemaError, TranscriptLine, conversation_dir, read_lines, read_meta
from ..runfolder.validate import validate_conversation
from .guard import COOKIE, MAX_BODY, Guard
from .live import TOKEN_TTL, Busy, Conversations, Refused
from .models import (
    Choices,
    Conversation,
    ConversationList,
    ConversationRow,
    LiveList,
    NewConversation,
    ObserverAccess,
    RunList,
    RunRow,
    RunSummary,
    Started,
    Status,
)
from .runs import Runs, View

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
BUILD_HINT = "the web pages are not built: run `make web` in a synthconv checkout (needs Node.js and npm)"
OPENAPI_URL = "/api/openapi.json"
NO_LIVEKIT = ("this server has no LiveKit: start it with --livekit-url, --livekit-api-key and --livekit-api-secret "
              "(or LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")


def pages_built() -> bool:
    return (STATIC / "index.html").is_file()


def create_app(runs: Path, token: str | None = None, live: Conversations | None = None,  # noqa: C901, PLR0915
               max_body: int = MAX_BODY) -> FastAPI:
    """The API and pages over `runs`, a folder of run folders; `token` guards every API call;
    `live` starts conversations in LiveKit rooms (without it, POST /conversations answers 503)."""
    runs = Path(runs)
    index = Runs(runs)
    app = FastAPI(title="synthconv", version="1", docs_url=None, redoc_url=None, openapi_url=OPENAPI_URL,
                  description="Runs, conversations, transcripts and audio of a synthconv runs folder.")
    app.add_middleware(Guard, token=token, max_body=max_body)
    if token is None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)
    api = APIRouter(prefix="/api/v1")

    def view(run: str) -> View:
        try:
            return index.view(run)
        except RunFolderError as e:
            raise HTTPException(422, str(e)) from None
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        except LookupError as e:
            raise HTTPException(404, str(e)) from None

    def row(run: str, cid: str) -> tuple[Path, dict]:
        v = view(run)
        found = v.rows.get(cid)
        if found is None:
            raise HTTPException(404, f"no conversation {cid!r} in run {run!r}")
        try:
            return conversation_dir(runs / run, cid), found
        except RunFolderError as e:
            raise HTTPException(400, str(e)) from None

    @api.get("/runs", summary="Every run folder in the runs folder, newest first")
    def list_runs() -> RunList:
        out = []
        for name in index.names():
            try:
                v, s = index.summary(name)
            except (ValueError, LookupError) as e:  # one unreadable run never hides the others
                out.append(RunRow(id=name, state="unreadable", error=str(e), planned=0, by_status={}))
                continue
            info = v.view["info"]
            out.append(RunRow(id=name, state=s["state"], planned=s["planned"], by_status=s["by_status"],
                              started_at=_text(info.get("started_at")), ended_at=_text(info.get("ended_at")),
                              engine=_text(info["flags"].get("engine")),
                              transport=_text(info["flags"].get("transport"))))
        out.sort(key=lambda r: r.started_at or "", reverse=True)
        return RunList(runs=out)

    @api.get("/runs/{run}", summary="A run's summary, as `synthconv inspect RUN --json` prints it")
    def get_run(run: str) -> RunSummary:
        view(run)
        try:
            v, s = index.summary(run)
        except RunFolderError as e:
            raise HTTPException(422, str(e)) from None
        return RunSummary(**{**s, "run": run, "flags": v.view["info"]["flags"], "damage": v.view["damage"]})

    @api.get("/runs/{run}/conversations", summary="A run's conversations, optionally filtered")
    def list_conversations(run: str, scenario: str | None = Query(None),
                           status: str | None = Query(None)) -> ConversationList:
        rows = [r for r in view(run).view["conversations"]
                if (not scenario or r["scenario"] == scenario) and (not status or r["status"] == status)]
        return ConversationList(conversations=[ConversationRow(**r) for r in rows])

    @api.get("/runs/{run}/conversations/{cid}",
             summary="One conversation: its line, meta.json, transcript, contract problems and audio URLs")
    def get_conversation(run: str, cid: str,
                         validate: bool = Query(True, description="false: skip the contract check (problems: null), "
                                                "which decodes the mix and takes most of this call's time")
                         ) -> Conversation:
        folder, r = row(run, cid)
        meta = read_meta(folder)
        transcript, damaged = usable_lines(folder)
        problems = None
        if validate:
            problems = damaged
            if r["status"] == "ok":
                try:
                    problems = validate_conversation(folder)
                except Exception as e:  # noqa: BLE001 - whatever the damage, it is this conversation's problem
                    problems = [*damaged, f"cannot be checked ({type(e).__name__}: {e})"]
        base = f"/api/v1/runs/{run}/conversations/{cid}"
        tracks = sorted(p.stem for p in (folder / "tracks").glob("*.wav") if NAME.match(p.stem))
        return Conversation(**r, meta=meta if isinstance(meta, dict) else None, transcript=transcript,
                            problems=problems,
                            audio={"mix": f"{base}/mix.mp3" if (folder / "mix.mp3").is_file() else None,
                                   "tracks": {role: f"{base}/tracks/{role}.wav" for role in tracks}})

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

    @api.post("/session", status_code=204, response_class=Response,
              summary="Keep the token this call carries (Authorization: Bearer) in an HttpOnly, SameSite=Strict "
                      "cookie, for the pages and their <audio> requests")
    def session(request: Request) -> Response:
        out = Response(status_code=204)
        if token is not None:  # the guard has checked it
            out.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                           secure=request.url.scheme == "https")
        return out

    # --- conversations started over the API (LiveKit) --------------------------------------------

    def need_live() -> Conversations:
        if live is None:
            raise HTTPException(503, NO_LIVEKIT)
        return live

    def started(cid: str):  # noqa: ANN202
        conversations = need_live()
        if cid not in conversations.started:
            raise HTTPException(404, f"no conversation {cid!r} was started by this server")
        return conversations.started[cid]

    @api.get("/conversations", summary="The conversations this server started (running ones first), and whether "
                                       "it can start any")
    def list_started() -> LiveList:
        if live is None:
            return LiveList(enabled=False, reason=NO_LIVEKIT, max_running=0, conversations=[])
        return LiveList(enabled=True, reason=None, max_running=live.max_running, conversations=live.rows())

    @api.get("/scenarios", summary="What a conversation can be started with: scenarios (their roles and persona "
                                   "files), engines and turn-taking modes")
    def choices() -> Choices:
        if live is None:
            raise HTTPException(503, NO_LIVEKIT)
        return live.choices()

    @api.post("/conversations", status_code=201,
              summary="Start one conversation in a LiveKit room, as `generate --transport livekit --count 1` does",
              responses={429: {"description": "--max-live conversations are running already"}})
    def new_conversation(body: NewConversation) -> Started:
        if live is None:
            raise HTTPException(503, NO_LIVEKIT)
        try:
            s = live.start(body.scenario, body.personas, body.engine, body.turn_taking)
        except Refused as e:
            raise HTTPException(422, str(e)) from None
        except Busy as e:
            raise HTTPException(429, str(e)) from None
        return Started(id=s.id, room=s.room, livekit_url=live.livekit.url,
                       observer_token=live.livekit.observer_token(s.room),
                       token_ttl_s=int(TOKEN_TTL.total_seconds()), status=f"/api/v1/conversations/{s.id}/status",
                       run=f"/api/v1/runs/{s.id}", page=f"/#/live/{s.id}")

    @api.get("/conversations/{cid}/status",
             summary="dispatching, live, recording, ok or failed (with its error); the agents and their state; turns")
    async def conversation_status(cid: str) -> Status:
        s = started(cid)
        return Status(**await need_live().status(s.id))

    @api.post("/conversations/{cid}/observer-token", summary="A new hidden, subscribe-only, short-lived token")
    def observer_token(cid: str) -> ObserverAccess:
        s = started(cid)
        livekit = need_live().livekit
        return ObserverAccess(room=s.room, livekit_url=livekit.url, observer_token=livekit.observer_token(s.room))

    app.include_router(api)

    # --- the pages and the API docs, built by `make web` (never from a CDN) ----------------------

    if pages_built():
        app.mount("/assets", StaticFiles(directory=STATIC / "assets"), name="assets")
    if (STATIC / "docs").is_dir():
        app.mount("/docs-assets", StaticFiles(directory=STATIC / "docs"), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def index_page():  # noqa: ANN202 - the page, or how to build it
        if not pages_built():
            return PlainTextResponse(BUILD_HINT + "\n", status_code=503)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/docs", include_in_schema=False)
    def docs():  # noqa: ANN202 - Swagger UI from the package, or how to build it
        if not (STATIC / "docs" / "swagger-ui-bundle.js").is_file():
            return PlainTextResponse(BUILD_HINT + " (Swagger UI comes with them)\n", status_code=503)
        return get_swagger_ui_html(openapi_url=OPENAPI_URL, title="synthconv API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="data:,")

    return app


def usable_lines(folder: Path) -> tuple[list[dict], list[str]]:
    """transcript.jsonl's usable lines, and one problem per line that is not (not JSON, not
    UTF-8, a field missing or of the wrong type): the page shows the rest of the conversation."""
    turns: list[dict] = []
    problems: list[str] = []
    try:
        lines = read_lines(folder / "transcript.jsonl")
    except OSError as e:
        return [], [f"transcript.jsonl cannot be read ({e.strerror})"]
    for n, t in lines:
        if isinstance(t, Exception):
            problems.append(f"transcript.jsonl line {n}: not JSON")
            continue
        try:
            TranscriptLine.from_dict(t)
        except SchemaError as e:
            problems.append(f"transcript.jsonl line {n}: {e}")
        else:
            assert isinstance(t, dict)  # from_dict took it: a JSON object
            turns.append(t)  # as written: every field it has
    return turns, problems


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _file(path: Path, media_type: str) -> FileResponse:
    if not path.is_file():
        raise HTTPException(404, f"no {path.name} in this conversation")
    return FileResponse(path, media_type=media_type)
