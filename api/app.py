"""The FastAPI application; `create_app` takes its engine, Temporal client and settings, so tests and
`stockwarden up` run the same app against their own parts."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import actions, audit, feeds, links, outbox, pages, people, policies, routes, tokens
from api.limits import BodyGuard
from api.problems import database_unavailable
from api.web import PageRefused, refused_page
from core.settings import Settings
from governance.visibility import CaseRefused
from notifications.people import Directory

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
"""Pages load only what the app serves (/static/pages.css): no inline script or style, no frames of them."""
DOCS = frozenset({"/docs", "/redoc"})
_DOCS_CSP = ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
             "script-src 'self' https://cdn.jsdelivr.net {hashes}; style-src 'self' https://cdn.jsdelivr.net "
             "https://fonts.googleapis.com 'unsafe-inline'; font-src 'self' https://fonts.gstatic.com; "
             "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src 'self' blob:")
"""FastAPI's API docs load Swagger UI / ReDoc from their CDN and start them with an inline script,
allowed by its hash; the API's own pages never need this."""
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
LINK_PATHS = ("/act/", "/pages/enter/")
"""Pages whose URL is a credential: no Referer may carry it elsewhere, no cache may keep the page."""


class SecurityHeaders:
    """Every answer says: no framing, no sniffing, no referrer; pages and API a Content-Security-Policy;
    pages and links are not cached (they hold people's cases). A plain ASGI middleware: one header pass."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in DOCS:
            await self._docs(scope, receive, send)
            return
        no_store = path.startswith(("/pages/", *LINK_PATHS))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                _secure(MutableHeaders(scope=message), CSP, no_store)
            await send(message)

        await self.app(scope, receive, sending)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) docs page until its inline scripts are hashed into its policy."""
        held: list[Message] = []
        body = b""

        async def holding(message: Message) -> None:
            nonlocal body
            if message["type"] == "http.response.start":
                held.append(message)
                return
            body += message.get("body", b"")
            if message.get("more_body"):
                return
            hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                              for s in _INLINE_SCRIPT.findall(body))
            start = held[0]
            headers = MutableHeaders(scope=start)
            _secure(headers, _DOCS_CSP.format(hashes=hashes), no_store=False)
            headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, holding)


def _secure(headers: MutableHeaders, policy: str, no_store: bool) -> None:
    headers["Content-Security-Policy"] = policy
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if no_store:
        headers["Cache-Control"] = "no-store"


async def _errors(request: Request, problem: StarletteHTTPException) -> Response:
    """Pages answer errors as pages; the API keeps FastAPI's JSON."""
    if request.url.path.startswith("/pages/"):
        return refused_page(request, PageRefused(problem.status_code, str(problem.detail)))
    return await http_exception_handler(request, problem)


async def _database_failed(request: Request, exc: DBAPIError) -> Response:
    """A database fault is a 503 (api/problems.py), a page for pages; any other database error a 500."""
    problem = database_unavailable(exc)
    if problem is None:
        raise exc
    return await _errors(request, problem)


async def _case_refused(request: Request, refusal: CaseRefused) -> Response:
    """A refused case action or read (governance/actions.py) is answered with its status and words."""
    return await _errors(request, StarletteHTTPException(refusal.status, refusal.message))


def create_app(engine: Engine, client: Client, settings: Settings, directory: Directory | None = None) -> FastAPI:
    app = FastAPI(title="Stockwarden", version="0.1.0",
                  description="Governance of slow-moving and obsolete medical-device stock (呆滞料).")
    app.state.engine, app.state.client, app.state.settings, app.state.directory = engine, client, settings, directory
    for module in (links, actions, routes, policies, feeds, audit, outbox, people, tokens, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(PageRefused, refused_page)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _errors)  # type: ignore[arg-type]
    app.add_exception_handler(CaseRefused, _case_refused)  # type: ignore[arg-type]
    app.add_exception_handler(DBAPIError, _database_failed)  # type: ignore[arg-type]
    app.add_middleware(BodyGuard)  # credentials and size limits before any body is read (api/limits.py)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/pages/cases", status_code=303)

    return app
