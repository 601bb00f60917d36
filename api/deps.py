"""What a route may ask for, as `Annotated` dependencies (as tiangolo's full-stack FastAPI template does):
the engine, the Temporal client, the settings and the people directory of the app `create_app` built, and
the person calling in one of the roles the route allows (a bearer token for the API, a token or the
session cookie for pages). Routes are module-level functions that name these in their signature; none
reads `request.app.state`. Each person dependency carries its roles (the OpenAPI text names them); tests/test_api.py writes
every route's roles out as a table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from temporalio.client import Client

from api.auth import (
    AUDITORS,
    CASE_READERS,
    COMMENTERS,
    ERP,
    FINDING_READERS,
    KPI_READERS,
    OUTBOX_READERS,
    OWNERS,
    PACK_READERS,
    PEOPLE_READERS,
    POLICY_EDITORS,
    POLICY_READERS,
    SCANNERS,
    SIGNERS,
    SNAPSHOT_READERS,
    Principal,
    Role,
    require,
)
from api.web import directory_of, page_guard
from core.settings import Settings
from notifications.people import Directory


def engine(request: Request) -> Engine:
    return request.app.state.engine


def client(request: Request) -> Client:
    return request.app.state.client


def settings(request: Request) -> Settings:
    return request.app.state.settings


def keep_directory(request: Request, replaced: Directory) -> None:
    """After people.yaml was replaced: an app given its directory (tests) keeps it in step."""
    if request.app.state.directory is not None:
        request.app.state.directory = replaced


EngineDep = Annotated[Engine, Depends(engine)]
ClientDep = Annotated[Client, Depends(client)]
SettingsDep = Annotated[Settings, Depends(settings)]
DirectoryDep = Annotated[Directory, Depends(directory_of)]
"""The app's directory (a test's), else people.yaml as it is now: an edit is seen without a restart."""

# The caller of an API route, by the roles it allows (api/auth.py names who each set is).
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
CommitteeDep = Annotated[Principal, Depends(require(Role.COMMITTEE))]
OwnerDep = Annotated[Principal, Depends(require(*OWNERS))]
CommenterDep = Annotated[Principal, Depends(require(*COMMENTERS))]
SignerDep = Annotated[Principal, Depends(require(*SIGNERS))]
ErpDep = Annotated[Principal, Depends(require(*ERP))]
OutboxReaderDep = Annotated[Principal, Depends(require(*OUTBOX_READERS))]
CaseReaderDep = Annotated[Principal, Depends(require(*CASE_READERS))]
FindingReaderDep = Annotated[Principal, Depends(require(*FINDING_READERS))]
ScannerDep = Annotated[Principal, Depends(require(*SCANNERS))]
KpiReaderDep = Annotated[Principal, Depends(require(*KPI_READERS))]
PackReaderDep = Annotated[Principal, Depends(require(*PACK_READERS))]
SnapshotReaderDep = Annotated[Principal, Depends(require(*SNAPSHOT_READERS))]
PolicyEditorDep = Annotated[Principal, Depends(require(*POLICY_EDITORS))]
PolicyReaderDep = Annotated[Principal, Depends(require(*POLICY_READERS))]
AuditorDep = Annotated[Principal, Depends(require(*AUDITORS))]
PeopleReaderDep = Annotated[Principal, Depends(require(*PEOPLE_READERS))]

# The reader of a page: a bearer token or the session cookie (api/web.py), refused as a page.
PageReaderDep = Annotated[Principal, Depends(page_guard(*CASE_READERS))]
PagePolicyEditorDep = Annotated[Principal, Depends(page_guard(*POLICY_EDITORS))]
PageKpiReaderDep = Annotated[Principal, Depends(page_guard(*KPI_READERS))]
PagePackReaderDep = Annotated[Principal, Depends(page_guard(*PACK_READERS))]
