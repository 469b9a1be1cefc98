"""`synthconv serve`: a runs folder in the browser (player) and over HTTP (/api/v1)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from .common import LiveKitKey, LiveKitSecret, LiveKitURL, PersonasDir, ScenariosDir, app, console, err, fail, library


@app.command()
def serve(
    runs: Path = typer.Option(Path("output"), "--runs", help="Folder of run folders to serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-token."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    api_token: str | None = typer.Option(None, "--api-token", envvar="SYNTHCONV_API_TOKEN", show_envvar=True,
                                            help="Required on every API call (Bearer header or the page's cookie)."),
    livekit_url: str | None = LiveKitURL,
    livekit_api_key: str | None = LiveKitKey,
    livekit_api_secret: str | None = LiveKitSecret,
    max_live: int = typer.Option(2, "--max-live", help="Conversations started over the API (or the page) that may "
                                 "run at once; more are refused with 429 until one ends."),
    scenarios_dir: Path = ScenariosDir,
    personas_dir: Path = PersonasDir,
) -> None:
    """Serve runs: a player in the browser and an HTTP API (OpenAPI at /api/docs); with LiveKit, start
    conversations from the page or over the API (POST /api/v1/conversations)."""
    try:
        import uvicorn

        from ..serve import create_app, pages_built
        from ..serve.api import BUILD_HINT
    except ImportError as e:
        fail(f"synthconv serve needs its extra: pip install 'synthconv[serve]' ({e.name} is missing)")
    if not runs.is_dir():
        fail(f"--runs: {runs} is not a folder")
    if not _loopback(host) and not api_token:
        fail(f"--host {host} is not loopback: give --api-token (or SYNTHCONV_API_TOKEN) so only you can read the runs")
    if api_token is not None and len(api_token) < 16:
        fail("--api-token: use at least 16 characters")
    if max_live < 1:
        fail(f"--max-live must be at least 1 (got {max_live})")
    live = _live(runs, livekit_url, livekit_api_key, livekit_api_secret, scenarios_dir, personas_dir, max_live)
    if not pages_built():
        err.print(f"warning: {BUILD_HINT}; the API works without them", highlight=False, markup=False)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"serving {runs} on http://{shown}:{port}/ (API docs: /api/docs); Ctrl-C stops",
                  highlight=False, markup=False)
    try:
        uvicorn.run(create_app(runs, api_token, live), host=host, port=port, log_level="warning")
    finally:
        if live is not None:
            live.stop_all()


def _live(runs: Path, url: str | None, key: str | None, secret: str | None, scenarios_dir: Path,
          personas_dir: Path, max_live: int):  # noqa: ANN202 - a serve.live.Conversations, or None without LiveKit
    """POST /conversations needs all three LiveKit settings, checked against the server now."""
    import asyncio

    if not (url or key or secret):
        return None
    if not (url and key and secret):
        missing = [flag for flag, v in (("--livekit-url", url), ("--livekit-api-key", key),
                                        ("--livekit-api-secret", secret)) if not v]
        fail(f"{missing[0]}: LiveKit needs the URL, key and secret together (or LIVEKIT_URL, LIVEKIT_API_KEY, "
             "LIVEKIT_API_SECRET)")
    from ..errors import LiveKitError
    from ..serve.live import Conversations, LiveKit
    from ..transport.livekit import LiveKitConfig, check_server

    try:
        asyncio.run(check_server(LiveKitConfig(url, key, secret)))
    except LiveKitError as e:
        fail(str(e))
    return Conversations(runs, library(scenarios_dir, personas_dir), LiveKit(url, key, secret), scenarios_dir,
                         personas_dir, max_running=max_live)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
