"""Policies over HTTP for compliance officers: validate (every problem with line and column), preview a
draft against the active policy, activate, history and diff. The body of validate and activate is the policy's YAML text, as the file holds it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import EngineDep, PolicyEditorDep, PolicyReaderDep
from api.problems import REFUSALS, ROW_ID_MAX, YAML_BODY, answers, problems_response, yaml_text
from rules.loader import PolicyInvalid, parse_policy
from rules.models import PolicyPending
from rules.scan import NothingToScan, preview, preview_json
from rules.versions import (
    Pending,
    PolicyConflict,
    SecondSignatureRefused,
    activate_text,
    approve_pending,
    diff_versions,
    history,
    known_values,
    pending_activations,
    reject_pending,
)


class SecondSignature(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "owners checked against the org chart"}]})

    reason: str = Field(default="", max_length=2000)


class Rejection(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "qa must not name the proposer"}]})

    reason: str = Field(min_length=1, max_length=2000)


def _pending_json(row: PolicyPending) -> dict[str, Any]:
    return {"pending": row.id, "policy": row.name, "version": row.version, "state": row.state,
            "changes": row.changes, "proposed_by": row.proposed_by, "proposed_at": row.proposed_at.isoformat(),
            "signed_by": row.signed_by, "signed_at": row.signed_at.isoformat() if row.signed_at else None,
            "reason": row.reason, "text_hash": row.text_hash}
VERSION = r"^([A-Za-z0-9][A-Za-z0-9_.-]*@)?[0-9]+$"


router = APIRouter(tags=["policies"], responses=REFUSALS)


@router.post("/policies/validate", summary="Check a policy; every problem with line and column")
async def validate(request: Request, _: PolicyEditorDep, engine: EngineDep,
                   name: str = "policy.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
    text = await yaml_text(request)
    with engine.connect() as connection:
        known = known_values(connection)
    try:
        policy = parse_policy(text, name, known=known)
    except PolicyInvalid as invalid:
        return problems_response(invalid)
    return {"valid": True, "policy": policy.policy, "version": policy.version, "rules": len(policy.rules)}


@router.post("/policies/preview", responses=answers(409), summary="What a draft would change on the latest snapshot: findings added, "
             "removed and kept, with the stock value each covers")
async def preview_draft(request: Request, _: PolicyEditorDep, engine: EngineDep,
                        name: str = "draft.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
    text = await yaml_text(request)
    with engine.connect() as connection:
        known = known_values(connection)
    try:
        draft = parse_policy(text, name, known=known)
        return preview_json(await asyncio.to_thread(preview, engine, draft))
    except PolicyInvalid as invalid:
        return problems_response(invalid)
    except NothingToScan as nothing:
        raise HTTPException(409, str(nothing)) from None


@router.post("/policies/activate", responses={**answers(409), 202: {"description": "The policy changes "
             "owners, signers or approvals: stored as pending until a second person signs it"}},
             summary="Make a checked policy the one active version (or pending, when it moves duties)")
async def activate(request: Request, who: PolicyEditorDep, engine: EngineDep,
                   name: str = "policy.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
    text = await yaml_text(request)
    try:
        activation = await asyncio.to_thread(activate_text, engine, text, name, actor=who.person)
    except PolicyInvalid as invalid:
        return problems_response(invalid)
    except PolicyConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    if isinstance(activation, Pending):
        return JSONResponse(status_code=202, content=_pending_json(activation.row))
    return {"policy": activation.version.name, "version": activation.version.version,
            "changed": activation.changed}


@router.get("/policies/pending", summary="Activations that change duties and wait for a second signature")
async def pending(_: PolicyReaderDep, engine: EngineDep, everything: bool = False) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [_pending_json(row) for row in pending_activations(connection, everything=everything)]


@router.post("/policies/pending/{pending_id}/approve", responses=answers(409),
             summary="Sign a pending activation as the second person (never its proposer): it becomes active")
async def approve(pending_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], body: SecondSignature,
                  who: PolicyEditorDep, engine: EngineDep) -> dict[str, Any]:
    try:
        activation = await asyncio.to_thread(approve_pending, engine, pending_id,
                                             signer=who.person, reason=body.reason)
    except SecondSignatureRefused as refused:
        raise HTTPException(409, str(refused)) from None
    return {"policy": activation.version.name, "version": activation.version.version, "changed": True,
            "signed_by": who.person}


@router.post("/policies/pending/{pending_id}/reject", responses=answers(409),
             summary="Reject a pending activation, with a reason; the active policy stays")
async def reject(pending_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], body: Rejection,
                 who: PolicyEditorDep, engine: EngineDep) -> dict[str, Any]:
    try:
        row = await asyncio.to_thread(reject_pending, engine, pending_id, signer=who.person,
                                      reason=body.reason)
    except SecondSignatureRefused as refused:
        raise HTTPException(409, str(refused)) from None
    return _pending_json(row)


@router.get("/policies", summary="Every activated version")
async def versions(_: PolicyReaderDep, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = history(connection)
    return [{"id": r.id, "policy": r.name, "version": r.version, "active": r.active, "text_hash": r.text_hash,
             "activated_by": r.activated_by, "activated_at": r.activated_at.isoformat()} for r in rows]


@router.get("/policies/diff", responses=answers(404),
            summary="Rules added, removed and changed between two versions, and a unified diff of their text")
async def diff(a: Annotated[str, Query(pattern=VERSION)], b: Annotated[str, Query(pattern=VERSION)],
               _: PolicyReaderDep, engine: EngineDep) -> dict[str, str]:
    """`a` and `b` are stored versions (3, or default@3); unlike the CLI, never a path on the server."""
    with engine.connect() as connection:
        try:
            return {"a": a, "b": b, "diff": diff_versions(connection, a, b, files=False)}
        except PolicyConflict as problem:
            raise HTTPException(404, str(problem)) from None
