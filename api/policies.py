"""Policies over HTTP for compliance officers: validate (every problem with line and column), preview a
draft against the active policy, activate, history and diff. The body of validate and activate is the policy's YAML text, as the file holds it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from api.auth import POLICY_EDITORS, Principal, Role, require
from api.problems import REFUSALS, YAML_BODY, answers, problems_response, yaml_text
from rules.loader import PolicyInvalid, parse_policy
from rules.scan import NothingToScan, preview, preview_json
from rules.versions import PolicyConflict, activate_text, diff_versions, history, known_values

READERS = (Role.COMPLIANCE, Role.ADMIN, Role.COMMITTEE, Role.VIEWER)
VERSION = r"^([A-Za-z0-9][A-Za-z0-9_.-]*@)?[0-9]+$"


def router() -> APIRouter:
    routes = APIRouter(tags=["policies"], responses=REFUSALS)

    @routes.post("/policies/validate", summary="Check a policy; every problem with line and column")
    async def validate(request: Request, _: Annotated[Principal, Depends(require(*POLICY_EDITORS))],
                       name: str = "policy.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
        text = await yaml_text(request)
        with request.app.state.engine.connect() as connection:
            known = known_values(connection)
        try:
            policy = parse_policy(text, name, known=known)
        except PolicyInvalid as invalid:
            return problems_response(invalid)
        return {"valid": True, "policy": policy.policy, "version": policy.version, "rules": len(policy.rules)}

    @routes.post("/policies/preview", responses=answers(409), summary="What a draft would change on the latest snapshot: findings added, "
                 "removed and kept, with the stock value each covers")
    async def preview_draft(request: Request, _: Annotated[Principal, Depends(require(*POLICY_EDITORS))],
                            name: str = "draft.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
        text = await yaml_text(request)
        engine = request.app.state.engine
        with engine.connect() as connection:
            known = known_values(connection)
        try:
            draft = parse_policy(text, name, known=known)
            return preview_json(await asyncio.to_thread(preview, engine, draft))
        except PolicyInvalid as invalid:
            return problems_response(invalid)
        except NothingToScan as nothing:
            raise HTTPException(409, str(nothing)) from None

    @routes.post("/policies/activate", responses=answers(409), summary="Make a checked policy the one active version")
    async def activate(request: Request, who: Annotated[Principal, Depends(require(*POLICY_EDITORS))],
                       name: str = "policy.yaml", body: Annotated[str, YAML_BODY] = "") -> Any:
        text = await yaml_text(request)
        try:
            activation = await asyncio.to_thread(activate_text, request.app.state.engine, text, name, actor=who.person)
        except PolicyInvalid as invalid:
            return problems_response(invalid)
        except PolicyConflict as conflict:
            raise HTTPException(409, str(conflict)) from None
        return {"policy": activation.version.name, "version": activation.version.version,
                "changed": activation.changed}

    @routes.get("/policies", summary="Every activated version")
    async def versions(request: Request, _: Annotated[Principal, Depends(require(*READERS))]) -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as connection:
            rows = history(connection)
        return [{"id": r.id, "policy": r.name, "version": r.version, "active": r.active, "text_hash": r.text_hash,
                 "activated_by": r.activated_by, "activated_at": r.activated_at.isoformat()} for r in rows]

    @routes.get("/policies/diff", responses=answers(404),
                summary="Rules added, removed and changed between two versions, and a unified diff of their text")
    async def diff(request: Request, a: Annotated[str, Query(pattern=VERSION)], b: Annotated[str, Query(pattern=VERSION)],
                   _: Annotated[Principal, Depends(require(*READERS))]) -> dict[str, str]:
        """`a` and `b` are stored versions (3, or default@3); unlike the CLI, never a path on the server."""
        with request.app.state.engine.connect() as connection:
            try:
                return {"a": a, "b": b, "diff": diff_versions(connection, a, b, files=False)}
            except PolicyConflict as problem:
                raise HTTPException(404, str(problem)) from None

    return routes
