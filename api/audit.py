"""The audit trail over HTTP: entries filtered by case, actor and time, and a walk of the whole chain."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from temporalio.service import RPCError

from activities.checkpoints import kept_in_temporal
from api.deps import AuditorDep, ClientDep, EngineDep, SettingsDep
from api.problems import REFUSALS
from audit.checkpoints import Anchor, CheckpointKeyMissing
from audit.trail import entries
from core.db import as_utc
from governance.verification import verify_all

router = APIRouter(tags=["audit"], responses=REFUSALS)


@router.get("/audit", summary="Audit entries, oldest first, filtered by case, actor and time, in pages")
async def audit(response: Response, _: AuditorDep, engine: EngineDep,
                case: str | None = None, actor: str | None = None, since: datetime | None = None,
                until: datetime | None = None, after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
    """A full page sets the `X-Next-After` header: pass it back as `after` for the next page."""
    with engine.connect() as connection:
        rows = entries(connection, case=case, actor=actor, since=since and as_utc(since),
                       until=until and as_utc(until), after=after, limit=limit)
    if len(rows) == limit:
        response.headers["X-Next-After"] = str(rows[-1].seq)
    return [{"seq": r.seq, "at": as_utc(r.at).isoformat(), "actor": r.actor, "action": r.action,
             "subject": r.subject, "before": r.before, "after": r.after, "reason": r.reason,
             "policy_version": r.policy_version, "workflow_id": r.workflow_id, "hash": r.hash} for r in rows]


@router.get("/audit/verify", summary="Walk the hash chain and check it against the signed checkpoints "
            "(file and Temporal) and the ERP instructions against their entries; name every break")
async def check(_: AuditorDep, engine: EngineDep, client: ClientDep, settings: SettingsDep) -> dict[str, Any]:
    """`breaks` lists the chain's own breaks first, then checkpoints that name rewritten, removed or
    truncated entries or are forged, then altered ERP instructions. `temporal` says whether the keeper
    in Temporal could be read (its checkpoints are checked too when it could)."""
    kept: list[Any] = list(Anchor.from_settings(settings).store.read())
    temporal = "not connected"
    if client is not None:
        try:  # bounded: a query waits for a worker, and none may be running
            kept += await asyncio.wait_for(kept_in_temporal(client), timeout=10)
            temporal = "checked"
        except RPCError as unreachable:
            temporal = f"not read: {unreachable.message}"
        except TimeoutError:
            temporal = "not read: no answer within 10 s (is a worker running?)"
    try:
        with engine.connect() as connection:
            verdict = verify_all(connection, kept, settings.secret_key)
    except CheckpointKeyMissing as missing:
        raise HTTPException(503, str(missing)) from None
    latest = verdict.latest
    return {"entries": verdict.entries, "intact": verdict.intact, "breaks": verdict.problems,
            "checkpoints": verdict.checkpoints_checked, "temporal": temporal,
            "latest_checkpoint": None if latest is None else {"seq": latest.seq, "head_hash": latest.head_hash,
                                                              "count": latest.count, "at": latest.at}}
