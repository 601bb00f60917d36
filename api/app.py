"""The FastAPI application; `create_app` takes its engine, Temporal client and settings, so tests and
`stockwarden up` run the same app against their own parts."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from api.actions import router as action_router
from api.audit import router as audit_router
from api.feeds import router as feed_router
from api.links import router as link_router
from api.policies import router as policy_router
from api.routes import router as api_router
from notifications.people import Directory
from stockwarden.settings import Settings


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
    return app
