"""Refusals counted per client address, and repeated failures from one address slowed.

A refusal that names nobody (no or an unknown token, a forged link, a failed sign-in) can be caused by
anyone as often as they like, so it is not appended to the hash-chained audit trail one entry each: it
is counted here, per address, reason and ten-second window. Refused links and failed sign-ins count
against their address whoever they name; more than `failures_per_minute` of those in the last minute
and the address is answered 429 with Retry-After until the minute has passed.

The address is the peer the server sees (request.client); behind a proxy, run the server so that it
takes the client's address from the proxy (uvicorn's --forwarded-allow-ips), or all clients are one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from api.models import RefusalCount

WINDOW_SECONDS = 10
SLOWED_OVER = timedelta(minutes=1)
SIGN_IN_FAILED = "sign-in failed"
NO_TOKEN = "no valid token"
LINK_PREFIX = "link "
"""Refused links count as "link <why>" (invalid, expired, used, wrong person, not visible)."""


def address_of(request: Request) -> str:
    return (request.client.host if request.client else "unknown")[:64]


def _window(now: datetime) -> datetime:
    return datetime.fromtimestamp(int(now.timestamp()) // WINDOW_SECONDS * WINDOW_SECONDS, UTC)


def count(engine: Engine, request: Request, reason: str) -> None:
    """One more refusal of `reason` from the caller's address in the current window."""
    table = RefusalCount.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(address=address_of(request), reason=reason[:40],
                                         window_start=_window(datetime.now(UTC)), count=1)
        connection.execute(statement.on_conflict_do_update(index_elements=["address", "reason", "window_start"],
                                                           set_={"count": table.c.count + 1}))


def retry_after(engine: Engine, request: Request) -> int | None:
    """Seconds the caller's address must wait, if it failed to sign in or used refused links more than
    the settings allow in the last minute; None if it may go on."""
    limit = request.app.state.settings.failures_per_minute
    now = datetime.now(UTC)
    since = _window(now - SLOWED_OVER)
    with engine.connect() as connection:
        total, oldest = connection.execute(
            select(func.coalesce(func.sum(RefusalCount.count), 0), func.min(RefusalCount.window_start)).where(
                col(RefusalCount.address) == address_of(request), col(RefusalCount.window_start) >= since,
                (col(RefusalCount.reason) == SIGN_IN_FAILED) | col(RefusalCount.reason).startswith(LINK_PREFIX))).one()
    if total < limit:
        return None
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return max(1, math.ceil((oldest + SLOWED_OVER + timedelta(seconds=WINDOW_SECONDS) - now).total_seconds()))
