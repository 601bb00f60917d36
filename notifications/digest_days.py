"""The one digest a person gets a day: claimed before it is sent, settled in the transaction that marks
its messages digested.

The claim is a row whose primary key is (person, day), committed before anything is sent: a send cannot
be taken back, so the key must decide before it, not after. Two rounds at once (a restarted `up` beside
the dispatcher, a retried activity) both try the insert; one wins, the other sends nothing. A round that
dies between claim and outcome leaves the claim standing: that day's digest may be missing, never
doubled, and its messages stay queued for the next day's."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from notifications.models import DIGEST_PARTIAL, DIGEST_SENDING, DIGEST_SENT, DigestSent


def had_digest(connection: Connection, day: date) -> set[str]:
    """The people whose digest of `day` is claimed or sent (so a round skips them before rendering)."""
    return set(connection.execute(select(col(DigestSent.person)).where(col(DigestSent.day) == day)).scalars())


def claim(engine: Engine, person: str, day: date, at: datetime, *, messages: int, cases: int) -> bool:
    """True when this round may send `person`'s digest of `day`; False when another round has (or had) it."""
    try:
        with engine.begin() as connection:
            connection.execute(insert(DigestSent).values(person=person, day=day, state=DIGEST_SENDING,
                                                         messages=messages, cases=cases, claimed_at=at))
    except IntegrityError:
        return False
    return True


def settle(connection: Connection, person: str, day: date, at: datetime, *, every_channel: bool, any_channel: bool) -> None:
    """In the caller's transaction (the one that marks the messages digested): the day is done when any
    channel took the digest; when none did, the claim is released and a later round may try again."""
    where = (col(DigestSent.person) == person, col(DigestSent.day) == day)
    if not any_channel:
        connection.execute(delete(DigestSent).where(*where))
        return
    connection.execute(update(DigestSent).where(*where).values(
        state=DIGEST_SENT if every_channel else DIGEST_PARTIAL, sent_at=at))
