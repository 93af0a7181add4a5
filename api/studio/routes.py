"""The studio's pages and their static files.

``/`` and the claim links (``/workspace/claim?ct=…``, and the legacy ``?token=&task=&session=``) answer the
studio page, ``/farm`` the farm page; the page's own script does the rest through the API. ``/studio/static/…``
serves the files beside this module, and only those: no directory listing, no path outside ``static/``.
Everything the pages load comes from here (the Content-Security-Policy allows nothing else), so they work
offline. The pages are not part of the API's OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import NotFound

STATIC: Final = Path(__file__).resolve().parent / "static"
CONTENT_TYPES: Final = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                        ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# Only this server's own files: the pages, the API, media, thumbnails and results are all this origin's URLs.
POLICY: Final = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
                 "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS: Final = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
                  "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type=CONTENT_TYPES[".html"], headers=HEADERS)


@router.get("/")
def studio() -> FileResponse:
    """The studio: sessions, uploads, chat, timeline, preview and export."""
    return _page("index.html")


@router.get("/workspace/claim")
def claim() -> FileResponse:
    """A claim link opens the studio, whose script exchanges the claim and drops it from the address bar."""
    return _page("index.html")


@router.get("/farm")
def farm() -> FileResponse:
    """The render workers, their jobs, the queue and the last renders."""
    return _page("farm.html")


@router.get("/studio/static/{name}")
def static(name: str) -> FileResponse:
    path = STATIC / name
    kind = CONTENT_TYPES.get(path.suffix)
    if kind is None or "/" in name or name.startswith(".") or not path.is_file():
        raise NotFound(f"no studio file {name!r}")
    return FileResponse(path, media_type=kind, headers=HEADERS)
