"""The API's reading routes: health and readiness, cases (list and detail), findings, scan now, KPIs and
the governance pack.
Each route states its roles (api/auth.py); the role-matrix test walks them all."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from sqlalchemy import Engine, select, text
from sqlmodel import col
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from activities.checkpoints import keep_in_temporal
from api.deps import (
    CaseReaderDep,
    ClientDep,
    EngineDep,
    FindingReaderDep,
    KpiReaderDep,
    PackReaderDep,
    ScannerDep,
    SettingsDep,
)
from api.problems import REFUSALS, ROW_ID_MAX, answers
from audit.checkpoints import Anchor, CheckpointKeyMissing
from audit.trail import entries
from core.db import as_utc
from core.period import Period, PeriodInvalid
from core.settings import Settings
from governance.listing import TEXT_LIMITS, BadCursor, BadFilter, CaseFilter, SortKey, list_cases
from governance.views import case_json
from governance.visibility import only_own, visible_case
from reports.kpis import NoSnapshotForPeriod, store
from reports.labels import LABELS
from reports.pack import write_pack
from reports.rows import kpi_rows
from rules.models import FindingRow
from rules.scan import finding_json, latest_scan
from workflows.scan import ScanRequest, ScanWorkflow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def check_period(period: str) -> None:
    """422 for a text that is not a month (core/period.py says what one is)."""
    try:
        Period.parse(period)
    except PeriodInvalid as invalid:
        raise HTTPException(422, str(invalid)) from None


async def pack_file(engine: Engine, client: Client | None, settings: Settings, period: str, lang: str) -> FileResponse:
    """The month's governance pack written (KPIs computed first) and sent, for the API and the KPI page."""
    check_period(period)
    if lang not in LABELS:
        raise HTTPException(422, f"lang must be one of {', '.join(LABELS)}")
    out = Path(settings.var_dir) / "packs" / f"governance-pack-{period}-{lang}.xlsx"
    try:
        pack = await asyncio.to_thread(write_pack, engine, period, lang, out, anchor=Anchor.from_settings(settings))
    except NoSnapshotForPeriod as missing:
        raise HTTPException(404, str(missing)) from None
    except CheckpointKeyMissing as missing:
        raise HTTPException(503, str(missing)) from None
    if client is not None:  # the checkpoint's second store; the file has it already
        with contextlib.suppress(RPCError):
            await keep_in_temporal(client, settings.task_queue, pack.checkpoint)
    return FileResponse(out, media_type=XLSX, filename=out.name)


router = APIRouter()


@router.get("/health", summary="The process answers", tags=["health"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", responses=answers(503), summary="The database and Temporal are reachable", tags=["health"])
async def ready(engine: EngineDep, client: ClientDep) -> dict[str, str]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as problem:  # noqa: BLE001 - any failure means not ready
        raise HTTPException(503, f"database: {type(problem).__name__}") from None
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=5)
    except Exception as problem:  # noqa: BLE001
        raise HTTPException(503, f"temporal: {type(problem).__name__}") from None
    return {"status": "ready"}


@router.get("/cases", responses=REFUSALS, summary="Cases from the mirror, filtered and sorted, in pages", tags=["cases"])
async def cases(principal: CaseReaderDep, engine: EngineDep,
                state: str | None = None, owner: str | None = None, rule: str | None = None,
                severity: str | None = None,
                site: Annotated[str | None, Query(max_length=TEXT_LIMITS["site"])] = None,
                sku: Annotated[str | None, Query(max_length=TEXT_LIMITS["sku"])] = None,
                lot: Annotated[str | None, Query(max_length=TEXT_LIMITS["lot"])] = None,
                category: str | None = None,
                overdue: bool | None = None, due_before: datetime | None = None,
                sort: SortKey = "id", descending: bool = False,
                cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """Pass `next_cursor` back as `cursor` (with the same sort and filters) for the next page. `sku`, `site`
    and `lot` match exactly (a lot with any of its serials; empty keeps every case); `due_before` keeps the
    cases whose current deadline (acknowledge while open, else resolve) falls before it. An owner sees
    only the cases they own or are assigned to."""
    try:
        where = CaseFilter(state=state, owner=owner, rule=rule, severity=severity, site=site, sku=sku, lot=lot,
                           category=category, overdue=overdue, due_before=due_before,
                           person=principal.person if only_own(principal) else None)
    except BadFilter as bad:
        raise HTTPException(422, str(bad)) from None
    with engine.connect() as connection:
        try:
            rows, next_cursor = list_cases(connection, where, sort=sort, descending=descending, cursor=cursor,
                                           limit=limit)
        except BadCursor as bad:
            raise HTTPException(422, str(bad)) from None
    return {"items": [case_json(row) for row in rows], "next_cursor": next_cursor}


@router.get("/findings", responses=REFUSALS, summary="The latest complete scan's findings, filtered, in pages", tags=["cases"])
async def findings(_: FindingReaderDep, engine: EngineDep,
                   rule: str | None = None, severity: str | None = None, site: str | None = None,
                   sku: str | None = None, level: Literal["lot", "sku"] | None = None,
                   cursor: Annotated[int | None, Query(ge=0, le=ROW_ID_MAX)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    with engine.connect() as connection:
        latest = latest_scan(connection)
        if latest is None:
            return {"scan": None, "items": [], "next_cursor": None}
        query = select(FindingRow).where(col(FindingRow.scan_id) == latest.id).order_by(col(FindingRow.id)).limit(limit)
        for column, value in ((FindingRow.rule, rule), (FindingRow.severity, severity), (FindingRow.site, site),
                              (FindingRow.sku, sku), (FindingRow.level, level)):
            if value is not None:
                query = query.where(col(column) == value)
        if cursor is not None:
            query = query.where(col(FindingRow.id) > cursor)
        rows: list[Any] = list(connection.execute(query).all())  # rows read as findings by finding_json
    return {"scan": latest.id, "items": [{"id": r.id, **finding_json(r)} for r in rows],
            "next_cursor": rows[-1].id if len(rows) == limit else None}


@router.post("/scans", responses={**REFUSALS, **answers(409)}, summary="Scan now: evaluate the latest snapshot under the active policy, through Temporal",
             tags=["cases"], status_code=202)
async def scan_now(_: ScannerDep, client: ClientDep, settings: SettingsDep,
                   wait: bool = False, partitions: Annotated[int, Query(ge=1, le=64)] = 4) -> dict[str, Any]:
    """Starts the same ScanWorkflow the schedule starts; with `wait`, answers when its cases are opened."""
    workflow_id = f"scan-{uuid.uuid4()}"
    handle = await client.start_workflow(ScanWorkflow.run, ScanRequest(partitions), id=workflow_id,
                                         task_queue=settings.task_queue)
    if not wait:
        return {"workflow_id": workflow_id, "summary": None}
    try:
        summary = await handle.result()
    except WorkflowFailureError as failure:
        raise HTTPException(409, f"the scan failed: {failure.cause}") from None
    return {"workflow_id": workflow_id, "summary": dataclasses.asdict(summary)}


@router.get("/cases/{case_id:path}", responses={**REFUSALS, **answers(404)}, summary="One case with its audit trail", tags=["cases"])
async def case(case_id: str, principal: CaseReaderDep, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as connection:
        row = visible_case(connection, principal, case_id)
        trail = [{"seq": e.seq, "at": as_utc(e.at).isoformat(), "actor": e.actor, "action": e.action, "reason": e.reason,
                  "after": e.after} for e in entries(connection, case=case_id)]
    return {**case_json(row), "audit": trail}


@router.get("/kpis/{period}", responses={**REFUSALS, **answers(404)}, summary="The month's KPIs, computed and stored", tags=["reports"])
async def kpis(period: str, _: KpiReaderDep, engine: EngineDep) -> list[dict[str, Any]]:
    check_period(period)
    try:
        await asyncio.to_thread(store, engine, period)
    except NoSnapshotForPeriod as missing:
        raise HTTPException(404, str(missing)) from None
    with engine.connect() as connection:
        return [row.json() for row in kpi_rows(connection, period)]


@router.get("/packs/{period}", responses={**REFUSALS, **answers(404)}, summary="The governance pack for a month (.xlsx)", tags=["reports"],
            response_class=FileResponse)
async def pack(period: str, _: PackReaderDep, engine: EngineDep, client: ClientDep, settings: SettingsDep,
               lang: str = "zh-CN") -> FileResponse:
    return await pack_file(engine, client, settings, period, lang)
