"""What a refusal looks like in the OpenAPI schema, so clients (and schemathesis) know every answer a
route can give: a sentence in `detail` (or FastAPI's list of field errors), a policy's `problems` with
line and column, or a feed's row `errors` with file, row and column."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Body, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.db import database_fault
from rules.loader import PolicyInvalid

log = logging.getLogger(__name__)


class PolicyProblemOut(BaseModel):
    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    text: str


class RowErrorOut(BaseModel):
    file: str | None
    row: int | None
    column: str | None
    message: str


class Problem(BaseModel):
    detail: str | list[dict[str, Any]] | None = None
    problems: list[PolicyProblemOut] | None = None
    errors: list[RowErrorOut] | None = None
    total: int | None = None
    """With `errors`: how many problems the feed has; `errors` holds the first 1,000."""


ROW_ID_MAX = 2**31 - 1
"""The largest id a table holds (INTEGER on PostgreSQL); a larger one is refused as invalid (422), never
sent to the database, where SQLite cannot even bind it."""

_WHY = {401: "No valid API token", 403: "The token lacks every role this route allows",
        404: "Not found", 409: "Refused in the current state (the words say why)",
        422: "The request is not valid (what and where)",
        429: "Too many failed attempts (signing locked, or sign-ins from this address); wait Retry-After seconds",
        503: "Not available now: the database (or Temporal) cannot be reached; nothing was changed, try again"}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": _WHY[code]} for code in codes}


REFUSALS = answers(401, 403, 422, 503)
"""Every API route: no token, a missing role, an invalid request, the database failing."""

DATABASE_UNAVAILABLE = ("the database is not available (its connection failed or was closed); nothing was stored "
                        "or changed: try again / 数据库暂不可用（连接失败或被关闭），未保存或更改任何内容，请重试")
RETRY_AFTER = "30"


def database_unavailable(exc: Exception) -> HTTPException | None:
    """The 503 a database fault (core.db.database_fault: a terminated connection, the database down) is
    answered with, the transaction having rolled back; None for any other error, which stays a 500.
    The driver's words go to the log, not to the caller: they name the database's host."""
    fault = database_fault(exc)
    if fault is None:
        return None
    log.warning("database fault: %s", fault)
    return HTTPException(503, DATABASE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER})


YAML_BODY = Body(media_type="application/yaml", examples=["policy: default\nversion: 2\n..."])
"""A YAML document (a policy, people.yaml) sent as the request's body, as the file holds it."""


def problems_response(invalid: PolicyInvalid) -> JSONResponse:
    """A YAML document's problems, each with file, line and column (422)."""
    return JSONResponse(status_code=422, content={"problems": [
        {"file": p.file, "line": p.line, "column": p.column, "path": p.path, "message": p.message, "text": str(p)}
        for p in invalid.problems]})


async def yaml_text(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the document must be UTF-8 text") from None
