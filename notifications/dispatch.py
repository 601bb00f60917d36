"""Delivering queued messages: render each for its recipient, send it through their channels, record
the attempt. A failed message is retried with growing pauses (up to an hour) until its channel is back;
after several failures it is marked failing and the administrators are told. Once a day, people who take
a digest get one message with their new, due and overdue cases (what it lists: digest.py; once a day,
also across restarts and concurrent rounds: digest_days.py).

The open cases a digest lists come from the case mirror, which sits above this room (governance/): the
caller hands in the function that reads them (activities/notifications.py gives governance's)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Connection, Engine, or_, select, update
from sqlmodel import col

from audit.trail import append
from core.case import AtAStep, FailedDelivery, MirroredCase
from core.settings import Settings
from inventory.metrics import latest_snapshot
from inventory.models import Material
from notifications.context import action_url, actions_for, case_context, my_cases_url
from notifications.delivery import send
from notifications.digest import DigestAction, digest_of, digest_rows
from notifications.digest_days import claim, had_digest, settle
from notifications.messages import action_label, render
from notifications.models import DIGESTED, QUEUED, SENT, Notification
from notifications.people import Directory, Language, Person, Role, load_people
from notifications.queue import queue

log = logging.getLogger(__name__)
BATCH = 200
FAILING_AFTER = 5
MAX_PAUSE = timedelta(hours=1)

OpenCases = Callable[[Connection], list[MirroredCase]]
"""Reads the cases not yet final from the mirror."""


@dataclass
class DeliveryRound:
    sent: int
    failed: int


def pause_after(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... at most an hour: a channel that is back gets its messages soon."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_PAUSE)


class Dispatcher:
    def __init__(self, engine: Engine, settings: Settings, open_cases: OpenCases, directory: Directory | None = None):
        self.engine = engine
        self.settings = settings
        self.open_cases = open_cases
        self.directory = directory

    def _directory(self) -> Directory:
        """Read each round, so an edited people.yaml takes effect without restarting the worker."""
        return self.directory or load_people(self.settings.people_file)

    def deliver_due(self) -> DeliveryRound:
        directory = self._directory()
        now = datetime.now(UTC)
        default_language = Language(self.settings.default_language)
        at_once = sorted(p.email for p in directory.people.values() if not p.digest)
        with self.engine.connect() as connection:
            # Messages waiting for a digest are not due here; selecting them would fill every batch.
            due = [Notification.model_validate(r._mapping) for r in connection.execute(
                select(Notification).where(col(Notification.state) == QUEUED, col(Notification.next_attempt_at) <= now,
                                           or_(col(Notification.urgent).is_(True), col(Notification.recipient).in_(at_once)))
                .order_by(col(Notification.urgent).desc(), col(Notification.id)).limit(BATCH))]
        sent = failed = 0
        for notification in due:
            person = directory.person(notification.recipient, language=default_language)
            if person.digest and not notification.urgent:
                continue  # waits for the daily digest
            with self.engine.connect() as connection:
                message = render(notification.event, person.language.value,
                                 case_context(connection, notification, person, self.settings))
            results = send(person, message, self.settings)
            ok = all(r.ok for r in results)
            attempts = notification.attempts + 1
            with self.engine.begin() as connection:
                values: dict[str, object] = {"attempts": attempts}
                if ok:
                    values.update(state=SENT, sent_at=datetime.now(UTC), last_error="")
                else:
                    errors = "; ".join(f"{r.channel}: {r.error}" for r in results if not r.ok)
                    values.update(next_attempt_at=datetime.now(UTC) + pause_after(attempts), last_error=errors[:2000],
                                  failing=attempts >= FAILING_AFTER)
                connection.execute(update(Notification).where(col(Notification.id) == notification.id).values(**values))
                append(connection, actor="stockwarden", action="notification.sent" if ok else "notification.failed",
                       subject=f"case:{notification.case_id}",
                       after={"template": notification.event, "recipient": notification.recipient,
                              "language": message.language, "attempt": attempts,
                              "channels": [{"channel": r.channel, "ok": r.ok, "error": r.error} for r in results]},
                       workflow_id=notification.case_id)
            if ok:
                sent += 1
            else:
                failed += 1
                if attempts == FAILING_AFTER:
                    log.error("message %s to %s keeps failing: %s", notification.id, notification.recipient,
                              values["last_error"])
                    self._tell_administrators(notification, attempts, str(values["last_error"]), directory)
        return DeliveryRound(sent, failed)

    def _tell_administrators(self, notification: Notification, attempts: int, error: str, directory: Directory) -> None:
        """Queue an urgent message to each administrator (their channels may differ from the failing one)."""
        admins = [p.email for p in directory.with_role(Role.ADMIN) if p.email != notification.recipient]
        case = notification.case()
        notice = replace(case, event_no=f"{case.event_no}-failing-{notification.id}",
                         failed_delivery=FailedDelivery(notification.recipient, notification.event, attempts, error))
        with self.engine.begin() as connection:
            queue(connection, notice, "delivery_failing", admins, datetime.now(UTC))

    def deliver_digests(self, at: datetime | None = None) -> DeliveryRound:
        """One message a day (the UTC day of `at`, now by default) per person who takes a digest: their
        new or changed cases (the messages queued for them since their last digest), and their open cases
        due within two days or overdue, in one table (notifications/digest.py). A person whose digest of
        the day was claimed by any round, this one, an earlier one or one in another process, gets none."""
        directory = self._directory()
        now = at or datetime.now(UTC)
        day = now.date()
        default_language = Language(self.settings.default_language)
        with self.engine.connect() as connection:
            queued: dict[str, list[Notification]] = {}
            for row in connection.execute(select(Notification).where(
                    col(Notification.state) == QUEUED, col(Notification.urgent).is_(False)).order_by(col(Notification.id))):
                queued.setdefault(row.recipient, []).append(Notification.model_validate(row._mapping))
            open_cases = self.open_cases(connection)
            known = _currencies(connection, {c.sku for c in open_cases} | {n.case().sku for ns in queued.values() for n in ns})
            done = had_digest(connection, day)
        recipients = set(queued) | {a for case in open_cases for a in case.assignees}
        sent = failed = 0
        for recipient in sorted(recipients - done):
            person = directory.person(recipient, language=default_language)
            if not person.digest:
                continue
            language = person.language.value
            mine = queued.get(recipient, [])
            rows = digest_rows(recipient, language, mine, open_cases,
                               lambda sku: known.get(sku, self.settings.default_currency), now,
                               partial(self._links, person=person))
            if not rows:
                continue
            digest = digest_of(rows)
            message = render("digest", language, {"person": {"name": person.name}, "today": day,
                                                  "my_cases": my_cases_url(self.settings, person.email),
                                                  "digest": digest})
            ids = [n.id for n in mine]
            if not claim(self.engine, recipient, day, datetime.now(UTC), messages=len(ids), cases=digest.cases):
                continue  # another round has today's digest for this person
            results = send(person, message, self.settings)
            ok = all(r.ok for r in results)
            with self.engine.begin() as connection:
                if ok and ids:
                    connection.execute(update(Notification).where(col(Notification.id).in_(ids))
                                       .values(state=DIGESTED, sent_at=datetime.now(UTC)))
                settle(connection, recipient, day, datetime.now(UTC), every_channel=ok, any_channel=any(r.ok for r in results))
                append(connection, actor="stockwarden", action="notification.digest_sent" if ok else "notification.digest_failed",
                       subject=f"person:{recipient}",
                       after={"recipient": recipient, "language": language, "day": day.isoformat(), "messages": ids,
                              "cases": digest.cases, "shown": len(digest.rows), "new": digest.new,
                              "due_soon": digest.due_soon, "overdue": digest.overdue,
                              "channels": [{"channel": r.channel, "ok": r.ok, "error": r.error} for r in results]})
            sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
        return DeliveryRound(sent, failed)

    def _links(self, case_id: str, case: AtAStep, person: Person) -> list[DigestAction]:
        """One click from the digest to the action, as in a single message."""
        return [DigestAction(action_label(action, person.language.value), action_url(self.settings, case_id, person, action))
                for action in actions_for(case, person)]


def _currencies(connection: Connection, skus: set[str]) -> dict[str, str]:
    stock = latest_snapshot(connection)
    if stock is None or not skus:
        return {}
    return {sku: currency for sku, currency in connection.execute(select(col(Material.sku), col(Material.currency)).where(
        col(Material.snapshot_id) == stock.id, col(Material.sku).in_(sorted(skus))))}
