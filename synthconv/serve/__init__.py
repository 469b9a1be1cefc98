"""`synthconv serve`: finished runs over HTTP (a versioned API and the pages built from web/).

- api.py: the FastAPI app, read-only through runfolder/ and inspect.py, so the API shows exactly
  what `synthconv inspect` does; the token check; ids checked before they become paths;
- static/: the pages, built from web/ by `make web` (git-ignored; shipped as package data).
"""

from .api import STATIC, create_app, pages_built

__all__ = ["STATIC", "create_app", "pages_built"]
