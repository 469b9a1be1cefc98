"""The API's door: the token is checked, and the body bounded, before any of the body is read.

FastAPI reads and parses a request's body before it runs the route's dependencies, so a token
check written as a dependency let anyone make the server read (and keep) a body of any size: a
400 MB POST without a token got 422 and the server grew from 153 MB to 950 MB. This is plain ASGI
in front of the app: a call to the API without the token is answered 401 from its headers alone,
and a body longer than MAX_BODY is refused with 413, whether its Content-Length says so or it
turns out longer while it is read.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie

from fastapi import HTTPException

MAX_BODY = 64 * 1024  # the API takes small JSON bodies only (a conversation's settings)
COOKIE = "synthconv_token"
PUBLIC = {"/", "/api/docs", "/api/openapi.json"}  # the page (it asks for the token), the API's description
PUBLIC_UNDER = ("/assets/", "/docs-assets/")  # their scripts and styles


def guarded(path: str) -> bool:
    """Every path but the public ones wants the token: a route added later is guarded by default."""
    return path not in PUBLIC and not path.startswith(PUBLIC_UNDER)


def given_token(headers: dict[bytes, bytes]) -> str:
    """The token a request carries: `Authorization: Bearer`, else the page's cookie."""
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
        return ""
    return cookie[COOKIE].value if COOKIE in cookie else ""


class Guard:
    """ASGI middleware: `token` (None: no token needed) for every guarded path; MAX_BODY for all."""

    def __init__(self, app, token: str | None = None, max_body: int = MAX_BODY) -> None:  # noqa: ANN001
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and guarded(scope["path"]) and not secrets.compare_digest(
                given_token(headers).encode(), self.token.encode()):
            return await _answer(send, 401, "missing or wrong API token", [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            return await _answer(send, 400, "Content-Length is not a number")
        if int(length) > self.max_body:
            return await _answer(send, 413, f"the request body is over {self.max_body} bytes")
        seen = 0

        async def bounded():  # noqa: ANN202 - a chunked body can still run over
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise HTTPException(413, f"the request body is over {self.max_body} bytes")
            return message

        await self.app(scope, bounded, send)


async def _answer(send, status: int, detail: str, headers: list | None = None) -> None:  # noqa: ANN001
    """A JSON error answered without reading the body; the connection is closed after it, so a
    client still sending a large body is not read to its end."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
