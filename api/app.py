"""The FastAPI application; `create_app` takes its engine, Temporal client and settings, so tests and
`stockwarden up` run the same app against their own parts."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from api.actions import router as action_router
from api.audit import router as audit_router
from api.feeds import router as feed_router
from api.limits import BodyGuard
from api.links import router as link_router
from api.outbox import router as outbox_router
from api.pages import router as page_router
from api.people import router as people_router
from api.policies import router as policy_router
from api.routes import router as api_router
from api.tokens import router as token_router
from api.web import PageRefused, refused_page
from notifications.people import Directory
from stockwarden.settings import Settings


async def _errors(request: Request, problem: StarletteHTTPException) -> Response:
    """Pages answer errors as pages; the API keeps FastAPI's JSON."""
    if request.url.path.startswith("/pages/"):
        return refused_page(request, PageRefused(problem.status_code, str(problem.detail)))
    return await http_exception_handler(request, problem)


def create_app(engine: Engine, client: Client, settings: Settings, directory: Directory | None = None) -> FastAPI:
    app = FastAPI(title="Stockwarden", version="0.1.0",
                  description="Governance of slow-moving and obsolete medical-device stock (呆滞料).")
    app.state.engine, app.state.client, app.state.settings, app.state.directory = engine, client, settings, directory
    app.include_router(link_router())
    app.include_router(action_router())
    app.include_router(api_router())
    app.include_router(policy_router())
    app.include_router(feed_router())
    app.include_router(audit_router())
    app.include_router(outbox_router())
    app.include_router(people_router())
    app.include_router(token_router())
    app.include_router(page_router())
    app.add_exception_handler(PageRefused, refused_page)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _errors)  # type: ignore[arg-type]
    app.add_middleware(BodyGuard)  # credentials and size limits before any body is read (api/limits.py)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/pages/cases", status_code=303)

    return app
