"""The API's routes so far: health and readiness, cases (list and detail), KPIs and the governance pack.
Each route states its roles (api/auth.py); the role-matrix test walks them all."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import select, text

from api.auth import Principal, Role, require
from audit.trail import entries
from governance.models import CaseRow
from governance.opening import deadline_of
from inventory.db import as_utc
from reports.kpis import NoSnapshotForPeriod, store
from reports.labels import LABELS
from reports.models import KpiValue
from reports.pack import write_pack

READERS = (Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE, Role.QA, Role.OWNER)
"""Who may read cases; an owner (and nobody else among these) sees only their own."""
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _case_json(row: Any) -> dict[str, Any]:
    return {"workflow_id": row.id, "rule": row.rule, "sku": row.sku, "site": row.site, "severity": row.severity,
            "state": row.state, "owner": row.owner, "assignees": row.assignees, "escalation_level": row.escalation_level,
            "acknowledge_due": as_utc(row.acknowledge_due).isoformat(), "resolve_due": as_utc(row.resolve_due).isoformat(),
            "value": float(row.value), "lines": [{"lot": line["lot"], "serial": line["serial"],
                                                  "quantity": line.get("quantity"), "value": line["value"]}
                                                 for line in row.lines],
            "proposal": row.proposal}



def _only_own(principal: Principal) -> bool:
    return not (principal.roles - {Role.OWNER.value, Role.ERP.value})


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/health", summary="The process answers", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @routes.get("/ready", summary="The database and Temporal are reachable", tags=["health"])
    async def ready(request: Request) -> dict[str, str]:
        try:
            with request.app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as problem:  # noqa: BLE001 - any failure means not ready
            raise HTTPException(503, f"database: {type(problem).__name__}") from None
        try:
            await asyncio.wait_for(request.app.state.client.service_client.check_health(), timeout=5)
        except Exception as problem:  # noqa: BLE001
            raise HTTPException(503, f"temporal: {type(problem).__name__}") from None
        return {"status": "ready"}

    @routes.get("/cases", summary="Cases from the mirror, filtered, in pages", tags=["cases"])
    async def cases(request: Request, principal: Annotated[Principal, Depends(require(*READERS))],
                    state: str | None = None, owner: str | None = None, rule: str | None = None,
                    severity: str | None = None, site: str | None = None, overdue: bool | None = None,
                    cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """Ordered by workflow id; pass `next_cursor` back as `cursor` for the next page. An owner sees only
        the cases they are responsible for."""
        query = select(CaseRow).order_by(CaseRow.id)  # type: ignore[arg-type]
        for column, value in ((CaseRow.state, state), (CaseRow.owner, owner), (CaseRow.rule, rule),
                              (CaseRow.severity, severity), (CaseRow.site, site)):
            if value is not None:
                query = query.where(column == value)  # type: ignore[arg-type]
        if cursor:
            query = query.where(CaseRow.id > cursor)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        items: list[dict[str, Any]] = []
        with request.app.state.engine.connect() as connection:
            for row in connection.execute(query.execution_options(yield_per=500)):
                if _only_own(principal) and principal.person != row.owner and principal.person not in row.assignees:
                    continue
                if overdue is not None:
                    due = deadline_of(row.state, row.acknowledge_due, row.resolve_due)
                    if (due is not None and as_utc(due) < now) != overdue:
                        continue
                items.append(_case_json(row))
                if len(items) == limit:
                    break
        return {"items": items, "next_cursor": items[-1]["workflow_id"] if len(items) == limit else None}

    @routes.get("/cases/{case_id:path}", summary="One case with its audit trail", tags=["cases"])
    async def case(request: Request, case_id: str,
                   principal: Annotated[Principal, Depends(require(*READERS))]) -> dict[str, Any]:
        with request.app.state.engine.connect() as connection:
            row = connection.execute(select(CaseRow).where(CaseRow.id == case_id)).first()  # type: ignore[arg-type]
            if row is None or (_only_own(principal) and principal.person != row.owner
                               and principal.person not in row.assignees):
                raise HTTPException(404, f"no case {case_id}")
            trail = [{"seq": e.seq, "at": as_utc(e.at).isoformat(), "actor": e.actor, "action": e.action, "reason": e.reason,
                      "after": e.after} for e in entries(connection, case=case_id)]
        return {**_case_json(row), "audit": trail}

    @routes.get("/kpis/{period}", summary="The month's KPIs, computed and stored", tags=["reports"])
    async def kpis(request: Request, period: str,
                   _: Annotated[Principal, Depends(require(Role.ADMIN, Role.COMMITTEE, Role.VIEWER, Role.COMPLIANCE))],
                   ) -> list[dict[str, Any]]:
        if not re.fullmatch(PERIOD, period):
            raise HTTPException(422, f"'{period}' is not a month (YYYY-MM)")
        try:
            await asyncio.to_thread(store, request.app.state.engine, period)
        except NoSnapshotForPeriod as missing:
            raise HTTPException(404, str(missing)) from None
        with request.app.state.engine.connect() as connection:
            rows = connection.execute(select(KpiValue).where(KpiValue.period == period)).all()  # type: ignore[arg-type]
        return [{"scope": r.scope_kind, "key": r.scope_key, "name": r.name,
                 "value": None if r.value is None else float(r.value)} for r in rows]

    @routes.get("/packs/{period}", summary="The governance pack for a month (.xlsx)", tags=["reports"],
                response_class=FileResponse)
    async def pack(request: Request, period: str,
                   _: Annotated[Principal, Depends(require(Role.ADMIN, Role.COMMITTEE))],
                   lang: str = "zh-CN") -> FileResponse:
        if not re.fullmatch(PERIOD, period):
            raise HTTPException(422, f"'{period}' is not a month (YYYY-MM)")
        if lang not in LABELS:
            raise HTTPException(422, f"lang must be one of {', '.join(LABELS)}")
        out = Path(request.app.state.settings.var_dir) / "packs" / f"governance-pack-{period}-{lang}.xlsx"
        try:
            await asyncio.to_thread(write_pack, request.app.state.engine, period, lang, out)
        except NoSnapshotForPeriod as missing:
            raise HTTPException(404, str(missing)) from None
        return FileResponse(out, media_type=XLSX, filename=out.name)

    return routes
