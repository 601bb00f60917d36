"""API tokens over HTTP, for administrators: list them (never their secrets), create one (its secret is
in that answer only), revoke one (its page sessions end with it). The same as `stockwarden token`;
every creation and revocation is audited in the calling admin's name."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import (
    PERSON,
    Role,
    TokenInfo,
    UnknownToken,
    issue_token,
    list_tokens,
    revoke_token,
)
from api.deps import AdminDep, EngineDep, SettingsDep
from api.problems import REFUSALS, ROW_ID_MAX, answers

_LISTED: dict[str, Any] = {"id": 7, "person": "li.na@example.com", "roles": ["compliance"], "created_at": "2026-11-25T08:00:00Z",
           "created_by": "admin@example.com", "expires_at": "2027-02-23T08:00:00Z", "revoked_at": None, "state": "live"}


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"person": "li.na@example.com", "roles": ["compliance"], "days": 30}]})

    person: str = Field(max_length=200, pattern=PERSON, description="Whose token (an email address)")
    roles: list[Role] = Field(min_length=1, max_length=len(Role), description="The roles it acts in")
    days: int | None = Field(default=None, ge=1, le=3650,
                             description="How long it works (default STOCKWARDEN_TOKEN_DAYS, 90)")


class TokenOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LISTED]})

    id: int
    person: str
    roles: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None
    state: Literal["live", "expired", "revoked"]


class TokenIssued(TokenOut):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_LISTED, "token": "sw_…"}]})

    token: str = Field(description="The token itself: shown in this answer only, stored as a hash")


def _out(info: TokenInfo) -> TokenOut:
    return TokenOut(id=info.id, person=info.person, roles=info.roles, created_at=info.created_at,
                    created_by=info.created_by, expires_at=info.expires_at, revoked_at=info.revoked_at,
                    state=info.state())  # type: ignore[arg-type]


router = APIRouter(tags=["tokens"], responses=REFUSALS)


@router.get("/tokens", summary="Every API token (optionally one person's): roles, created by, expiry, revocation; never the secret")
async def tokens(_: AdminDep, engine: EngineDep,
                 person: Annotated[str | None, Query(max_length=200)] = None) -> list[TokenOut]:
    with engine.connect() as connection:
        return [_out(t) for t in list_tokens(connection, person)]


@router.post("/tokens", status_code=201, summary="Create a token; its secret is in this answer only")
async def create(body: TokenCreate, who: AdminDep, engine: EngineDep, settings: SettingsDep) -> TokenIssued:
    try:
        issued = await asyncio.to_thread(issue_token, engine, body.person, body.roles,
                                         by=who.person, days=body.days or settings.token_days)
    except ValueError as bad:
        raise HTTPException(422, str(bad)) from None
    return TokenIssued(**_out(issued.info).model_dump(), token=issued.token)


@router.post("/tokens/{token_id}/revoke", responses=answers(404),
             summary="Revoke a token; the page sessions begun with it end (a revoked token stays revoked)")
async def revoke(token_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], who: AdminDep, engine: EngineDep) -> TokenOut:
    try:
        return _out(await asyncio.to_thread(revoke_token, engine, token_id, by=who.person))
    except UnknownToken as missing:
        raise HTTPException(404, str(missing)) from None
