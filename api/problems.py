"""What a refusal looks like in the OpenAPI schema, so clients (and schemathesis) know every answer a
route can give: a sentence in `detail` (or FastAPI's list of field errors), a policy's `problems` with
line and column, or a feed's row `errors` with file, row and column."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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


_WHY = {401: "No valid API token", 403: "The token lacks every role this route allows",
        404: "Not found", 409: "Refused in the current state (the words say why)",
        422: "The request is not valid (what and where)", 503: "Not ready"}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": _WHY[code]} for code in codes}


REFUSALS = answers(401, 403, 422)
"""Every API route: no token, a missing role, an invalid request."""
