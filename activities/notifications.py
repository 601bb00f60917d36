"""Delivering queued messages: render each for its recipient, send it through their channels, record
the attempt. A failed message is retried with growing pauses (up to an hour) until its channel is back;
after several failures it is marked failing and the administrators are told."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Engine, or_, select, update
from temporalio import activity

from audit.trail import append
from core.db import as_utc
from core.settings import Settings
from governance.models import CaseRow
from governance.opening import FINAL_STATES as FINAL
from governance.opening import deadline_of
from inventory.metrics import latest_snapshot
from inventory.models import Material
from notifications.context import action_url, actions_for, case_context, my_cases_url
from notifications.delivery import send
from notifications.messages import action_label, render
from notifications.models import DIGESTED, QUEUED, SENT, Notification
from notifications.people import Directory, Language, Person, Role, load_people
from notifications.queue import queue

log = logging.getLogger(__name__)
BATCH = 200
FAILING_AFTER = 5
MAX_PAUSE = timedelta(hours=1)


@dataclass
class DeliveryRound:
    sent: int
    failed: int


def pause_after(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... at most an hour: a channel that is back gets its messages soon."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_PAUSE)


class NotificationActivities:
    def __init__(self, engine: Engine, settings: Settings, directory: Directory | None = None):
        self.engine = engine
        self.settings = settings
        self.directory = directory

    def _directory(self) -> Directory:
        """Read each round, so an edited people.yaml takes effect without restarting the worker."""
        return self.directory or load_people(self.settings.people_file)

    @activity.defn
    def deliver_due(self) -> DeliveryRound:
        directory = self._directory()
        now = datetime.now(UTC)
        default_language = Language(self.settings.default_language)
        at_once = sorted(p.email for p in directory.people.values() if not p.digest)
        with self.engine.connect() as connection:
            # Messages waiting for a digest are not due here; selecting them would fill every batch.
            due = [Notification.model_validate(r._mapping) for r in connection.execute(
                select(Notification).where(Notification.state == QUEUED, Notification.next_attempt_at <= now,  # type: ignore[arg-type]
                                           or_(Notification.urgent.is_(True), Notification.recipient.in_(at_once)))  # type: ignore[attr-defined]
                .order_by(Notification.urgent.desc(), Notification.id).limit(BATCH))]  # type: ignore[attr-defined,arg-type]
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
                connection.execute(update(Notification).where(Notification.id == notification.id).values(**values))  # type: ignore[arg-type]
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
        snapshot = {**notification.snapshot, "event_no": f"{notification.snapshot.get('event_no')}-failing-{notification.id}",
                    "failed_delivery": {"recipient": notification.recipient, "event": notification.event,
                                        "attempts": attempts, "error": error}}
        with self.engine.begin() as connection:
            queue(connection, snapshot, "delivery_failing", admins, datetime.now(UTC))

    @activity.defn
    def deliver_digests(self) -> DeliveryRound:
        """One message a day per person who takes a digest: their new or changed cases (the messages
        queued for them since), and their open cases due within two days or overdue."""
        directory = self._directory()
        now = datetime.now(UTC)
        default_language = Language(self.settings.default_language)
        with self.engine.connect() as connection:
            queued: dict[str, list[Notification]] = {}
            for row in connection.execute(select(Notification).where(
                    Notification.state == QUEUED, Notification.urgent.is_(False)).order_by(Notification.id)):  # type: ignore[attr-defined,arg-type]
                queued.setdefault(row.recipient, []).append(Notification.model_validate(row._mapping))
            open_cases = [CaseRow.model_validate(r._mapping) for r in connection.execute(
                select(CaseRow).where(CaseRow.state.not_in(FINAL)))]  # type: ignore[attr-defined]
            currencies = defaultdict(lambda: self.settings.default_currency, _currencies(
                connection, {c.sku for c in open_cases} | {n.snapshot["sku"] for ns in queued.values() for n in ns}))
        recipients = set(queued) | {a for case in open_cases for a in case.assignees}
        sent = failed = 0
        for recipient in sorted(recipients):
            person = directory.person(recipient, language=default_language)
            if not person.digest:
                continue
            language = person.language.value
            mine = [c for c in open_cases if recipient in c.assignees]
            new = {n.case_id: {**_summary_of_snapshot(n.snapshot, language, currencies),
                               "actions": self._links(n.case_id, n.snapshot, person)}
                   for n in queued.get(recipient, [])}
            deadlines = [(c, deadline_of(c.state, c.acknowledge_due, c.resolve_due)) for c in mine]
            overdue = [{**_summary_of_row(c, d, language, currencies), "actions": self._links(c.id, _as_snapshot(c), person)}
                       for c, d in deadlines if as_utc(d) < now]
            due_soon = [{**_summary_of_row(c, d, language, currencies), "actions": self._links(c.id, _as_snapshot(c), person)}
                        for c, d in deadlines if now <= as_utc(d) < now + timedelta(days=2)]
            if not (new or overdue or due_soon):
                continue
            message = render("digest", language, {"person": {"name": person.name}, "today": now.date(),
                                                  "my_cases": my_cases_url(self.settings, person.email),
                                                  "new": list(new.values()), "due_soon": due_soon, "overdue": overdue})
            results = send(person, message, self.settings)
            ok = all(r.ok for r in results)
            ids = [n.id for n in queued.get(recipient, [])]
            with self.engine.begin() as connection:
                if ok and ids:
                    connection.execute(update(Notification).where(Notification.id.in_(ids))  # type: ignore[union-attr]
                                       .values(state=DIGESTED, sent_at=datetime.now(UTC)))
                append(connection, actor="stockwarden", action="notification.digest_sent" if ok else "notification.digest_failed",
                       subject=f"person:{recipient}",
                       after={"recipient": recipient, "language": language, "messages": ids,
                              "due_soon": len(due_soon), "overdue": len(overdue),
                              "channels": [{"channel": r.channel, "ok": r.ok, "error": r.error} for r in results]})
            sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
        return DeliveryRound(sent, failed)

    def _links(self, case_id: str, snapshot: dict, person: Person) -> list[dict[str, str]]:
        """One click from the digest to the action, as in a single message."""
        return [{"label": action_label(action, person.language.value), "url": action_url(self.settings, case_id, person, action)}
                for action in actions_for(snapshot, person)]

    def all(self) -> list[object]:
        return [self.deliver_due, self.deliver_digests]


def _as_snapshot(case: CaseRow) -> dict[str, object]:
    return {"state": case.state, "assignees": case.assignees, "proposal": case.proposal}



def _currencies(connection: Connection, skus: set[str]) -> dict[str, str]:
    stock = latest_snapshot(connection)
    if stock is None or not skus:
        return {}
    return dict(connection.execute(select(Material.sku, Material.currency).where(
        Material.snapshot_id == stock.id, Material.sku.in_(sorted(skus)))).all())  # type: ignore[attr-defined,arg-type]


def _summary_of_snapshot(snapshot: dict, language: str, currencies: dict[str, str]) -> dict[str, object]:
    state = snapshot.get("state")
    return {"title": snapshot.get("title_zh") if language == "zh-CN" else snapshot.get("title_en"),
            "sku": snapshot["sku"], "site": snapshot["site"], "state": state,
            "value": str(sum((Decimal(line["value"]) for line in snapshot.get("lines") or []), Decimal(0))),
            "currency": currencies[snapshot["sku"]],
            "deadline": deadline_of(state, snapshot["acknowledge_due"], snapshot["resolve_due"])}


def _summary_of_row(case: CaseRow, deadline: datetime, language: str, currencies: dict[str, str]) -> dict[str, object]:
    title = case.title_zh if language == "zh-CN" else case.title_en
    return {"title": title or case.rule, "sku": case.sku, "site": case.site, "state": case.state, "value": str(case.value),
            "currency": currencies[case.sku], "deadline": as_utc(deadline).isoformat()}
