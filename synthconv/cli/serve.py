"""`synthconv serve`: a runs folder in the browser (player) and over HTTP (/api/v1)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

from .common import app, console, err, fail


@app.command()
def serve(
    runs: Path = typer.Option(Path("output"), "--runs", help="Folder of run folders to serve."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --api-token."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    api_token: Optional[str] = typer.Option(None, "--api-token", envvar="SYNTHCONV_API_TOKEN", show_envvar=True,
                                            help="Required on every API call (Bearer header or the page's cookie)."),
) -> None:
    """Serve finished runs: a player in the browser and a read-only HTTP API (OpenAPI at /api/docs)."""
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
    if not pages_built():
        err.print(f"warning: {BUILD_HINT}; the API works without them", highlight=False, markup=False)
    shown = f"[{host}]" if ":" in host else host
    console.print(f"serving {runs} on http://{shown}:{port}/ (API docs: /api/docs); Ctrl-C stops",
                  highlight=False, markup=False)
    uvicorn.run(create_app(runs, api_token), host=host, port=port, log_level="warning")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
