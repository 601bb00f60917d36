"""What a route may ask for, as `Annotated` dependencies (as tiangolo's full-stack FastAPI template does):
the engine, the Temporal client, the settings and the people directory of the app `create_app` built.
Routes are module-level functions that name these in their signature; none reads `request.app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from temporalio.client import Client

from core.settings import Settings
from notifications.people import Directory, load_people


def engine(request: Request) -> Engine:
    return request.app.state.engine


def client(request: Request) -> Client:
    return request.app.state.client


def settings(request: Request) -> Settings:
    return request.app.state.settings


def directory(request: Request) -> Directory:
    """The app's directory (a test's), else people.yaml as it is now: an edit is seen without a restart."""
    given: Directory | None = request.app.state.directory
    return given or load_people(request.app.state.settings.people_file)


EngineDep = Annotated[Engine, Depends(engine)]
ClientDep = Annotated[Client, Depends(client)]
SettingsDep = Annotated[Settings, Depends(settings)]
DirectoryDep = Annotated[Directory, Depends(directory)]
