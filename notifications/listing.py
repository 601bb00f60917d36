"""Messages still waiting in the queue, for the people who watch delivery (the console and the cases list)."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlmodel import col

from notifications.models import QUEUED, Notification


def undelivered(connection: Connection, *, failing_only: bool = False) -> list[Notification]:
    """Messages not yet delivered, oldest first; with `failing_only`, those that keep failing."""
    query = select(Notification).where(col(Notification.state) == QUEUED).order_by(col(Notification.id))
    if failing_only:
        query = query.where(col(Notification.failing).is_(True))
    return [Notification.model_validate(row._mapping) for row in connection.execute(query)]


def cases_with_failing_delivery(connection: Connection) -> set[str]:
    """The cases that have a queued message which keeps failing (marked on the case so someone looks)."""
    query = select(col(Notification.case_id)).where(col(Notification.failing).is_(True),
                                                     col(Notification.state) == QUEUED)
    return set(connection.execute(query).scalars())
