"""`synthconv serve`: runs over HTTP (a versioned API and the pages built from web/), and
conversations started and watched live in LiveKit rooms.

- api.py: the FastAPI app, read-only through runfolder/ and summary.py, so the API shows exactly
  what `synthconv inspect` does; ids checked before they become paths;
- guard.py: the token, checked before a body is read, and the body limit;
- runs.py: each run's view, kept in memory until its files change; no link followed;
- live.py: conversations started over the API (LiveKit), at most --max-live at once;
- models.py: the shape of every request and answer (the OpenAPI schema);
- static/: the pages, built from web/ by `make web` (git-ignored; shipped as package data).
"""

from .api import STATIC, create_app, pages_built

__all__ = ["STATIC", "create_app", "pages_built"]
