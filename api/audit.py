"""The audit trail over HTTP: entries filtered by case, actor and time, and a walk of the whole chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth import Principal, Role, require
from api.problems import REFUSALS
from audit.trail import entries, verify
from inventory.db import as_utc

AUDITORS = (Role.ADMIN, Role.COMPLIANCE, Role.COMMITTEE)


def router() -> APIRouter:
    routes = APIRouter(tags=["audit"], responses=REFUSALS)

    @routes.get("/audit", summary="Audit entries, oldest first, filtered by case, actor and time, in pages")
    async def audit(request: Request, response: Response, _: Annotated[Principal, Depends(require(*AUDITORS))],
                    case: str | None = None, actor: str | None = None, since: datetime | None = None,
                    until: datetime | None = None, after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
        """A full page sets the `X-Next-After` header: pass it back as `after` for the next page."""
        with request.app.state.engine.connect() as connection:
            rows = entries(connection, case=case, actor=actor, since=since and as_utc(since),
                           until=until and as_utc(until), after=after, limit=limit)
        if len(rows) == limit:
            response.headers["X-Next-After"] = str(rows[-1].seq)
        return [{"seq": r.seq, "at": as_utc(r.at).isoformat(), "actor": r.actor, "action": r.action,
                 "subject": r.subject, "before": r.before, "after": r.after, "reason": r.reason,
                 "policy_version": r.policy_version, "workflow_id": r.workflow_id, "hash": r.hash} for r in rows]

    @routes.get("/audit/verify", summary="Walk the hash chain; name the first entry altered or removed")
    async def check(request: Request, _: Annotated[Principal, Depends(require(*AUDITORS))]) -> dict[str, Any]:
        with request.app.state.engine.connect() as connection:
            count, breaks = verify(connection)
        return {"entries": count, "intact": not breaks, "breaks": [str(b) for b in breaks]}

    return routes
