"""Request bodies: who may send one, and how large. A pure ASGI middleware, so that it runs before FastAPI
reads a byte: FastAPI reads and parses a body before the route's auth dependency runs, and a 16 MB JSON
body sent with no token raised the server's memory by 350 MiB before its 401.

- A request that may carry a body (POST, PUT, PATCH, DELETE) needs its credential first: a valid bearer
  token for the API, a token or the page session for /pages/. Two kinds bring their credential inside
  and are let through: a signed action link (/act/<token>: the token is in the path and the link route
  checks it) and the sign-in form (/pages/login: the token is the form), with the small body limit.
- Every body has a limit by route (settings): snapshot and movement files (`upload_max_mb`), JSON
  records (`records_max_mb`), anything else (`body_max_kb`). Beyond it the answer is 413: at once on
  Content-Length, or as soon as a chunked body goes past it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer, principal_of, refused
from api.web import PageRefused, refused_page, session_of
from core.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOADS = frozenset({"/snapshots", "/movements"})
RECORDS = frozenset({"/snapshots/records", "/movements/records"})
CARRIES_ITS_CREDENTIAL = ("/act/", "/pages/login", "/pages/logout")
"""Paths whose credential is inside the request (the link token in the path, the sign-in form's token), and
signing out, which reads no body and needs none."""


@dataclass(frozen=True)
class BodyRule:
    limit: int
    """Bytes."""
    name: str
    """The setting that sets it, for the 413's words."""


def body_rule(path: str, settings: Settings) -> BodyRule:
    """The size limit of a route's body."""
    if path in UPLOADS:
        return BodyRule(settings.upload_max_mb << 20, "STOCKWARDEN_UPLOAD_MAX_MB")
    if path in RECORDS:
        return BodyRule(settings.records_max_mb << 20, "STOCKWARDEN_RECORDS_MAX_MB")
    return BodyRule(settings.body_max_kb << 10, "STOCKWARDEN_BODY_MAX_KB")


def _too_large(path: str, rule: BodyRule) -> str:
    """The 413's words: a page text key under /pages/ (said in the reader's language), a sentence elsewhere."""
    if path.startswith("/pages/"):
        return "too_large"
    return f"the request body is larger than this route takes ({rule.limit:,} bytes; {rule.name})"


class BodyGuard:
    """Refuses, before any byte of the body is read, a body without a credential (401) or beyond its
    route's limit (413)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # headers, cookies and path only: its body is never touched here
        settings: Settings = request.app.state.settings
        path = request.url.path
        rule = body_rule(path, settings)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or not declared.isascii()):
            await JSONResponse({"detail": "Content-Length is not a number"}, status_code=400)(scope, receive, send)
            return
        if declared is not None and int(declared) > rule.limit:
            await self._refuse(request, 413, _too_large(path, rule))(scope, receive, send)
            return
        if not path.startswith(CARRIES_ITS_CREDENTIAL) and not await self._signed_in(request):
            await asyncio.to_thread(refused, request.app.state.engine, request, "anonymous",
                                    "no valid token" + (" or session" if path.startswith("/pages/") else "")
                                    + " (refused before the body was read)")
            await self._refuse(request, 401, "a valid API token is required (Authorization: Bearer ...)")(
                scope, receive, send)
            return
        await self.app(scope, _counted(receive, path, rule), send)

    @staticmethod
    async def _signed_in(request: Request) -> bool:
        token = bearer(request)
        if token and await asyncio.to_thread(principal_of, request.app.state.engine, token) is not None:
            return True
        return request.url.path.startswith("/pages/") and await asyncio.to_thread(session_of, request) is not None

    @staticmethod
    def _refuse(request: Request, status: int, detail: str) -> Response:
        """The answer the route itself would give: a page under /pages/ (sign-in for 401), JSON elsewhere."""
        if request.url.path.startswith("/pages/"):
            return refused_page(request, PageRefused(status, "not_signed_in" if status == 401 else detail))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _counted(receive: Receive, path: str, rule: BodyRule) -> Receive:
    """`receive` that raises 413 as soon as the body it has passed on goes past the limit (a chunked body has
    no Content-Length to check first). FastAPI lets an HTTPException from reading the body through, so the
    app's own handler answers it."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > rule.limit:
                raise HTTPException(413, _too_large(path, rule))
        return message

    return counted
