"""What a message says: the case as its step left it, the SKU's name and currency, why the rule fired
(each metric against its threshold), what the recipient may do and by when, and signed action links."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from core.case import ACKNOWLEDGED, AWAITING_APPROVAL, OPEN, AtAStep, CaseLine, deadline_of
from core.settings import Settings
from inventory.metrics import latest_snapshot
from inventory.models import Material
from notifications.links import sign, sign_my_cases
from notifications.messages import action_label
from notifications.models import Notification
from notifications.people import Person
from rules.models import FindingRow
from rules.scan import latest_scan


def actions_for(case: AtAStep, person: Person) -> list[str]:
    """The actions a link may carry for this person at this step (the case's Update still checks)."""
    state, assignees = case.state, case.assignees
    proposer = case.proposal.by if case.proposal is not None else None
    if state == AWAITING_APPROVAL and person.email != proposer:
        return ["approve", "reject"]
    if person.email not in assignees:
        return []
    if state == OPEN:
        return ["acknowledge", "propose"]
    if state == ACKNOWLEDGED:
        return ["propose"]
    return []


def case_reasons(lines: list[CaseLine], rule: str) -> list[dict[str, Any]]:
    """Why the case's governing rule fired: each metric against its threshold, from the first line it governs."""
    for line in lines:
        for finding in line.findings:
            if finding.rule == rule:
                return [{"metric": c.metric, "operator": c.operator, "threshold": c.threshold, "value": c.value}
                        for c in finding.conditions]
    return []


def rule_reasons(connection: Connection, rule: str, sku: str, site: str) -> list[dict[str, Any]]:
    """Why the rule fired on this SKU-site in the latest scan: for a case whose lines carry no findings
    (opened before lines carried them)."""
    scan = latest_scan(connection)
    if scan is None:
        return []
    row = connection.execute(select(col(FindingRow.reasons)).where(
        col(FindingRow.scan_id) == scan.id, col(FindingRow.rule) == rule, col(FindingRow.sku) == sku,
        col(FindingRow.site) == site).limit(1)).first()
    return list(row.reasons) if row else []


def action_url(settings: Settings, case_id: str, person: Person, action: str) -> str:
    return f"{settings.public_url.rstrip('/')}/act/{sign(settings.secret_key, case_id, person.email, action)}"


def my_cases_url(settings: Settings, person: str) -> str:
    """Signs `person` in on the pages (api/pages.py) and lists their cases."""
    return f"{settings.public_url.rstrip('/')}/pages/enter/{sign_my_cases(settings.secret_key, person)}"


def case_context(connection: Connection, notification: Notification, person: Person, settings: Settings) -> dict[str, Any]:
    case = notification.case()
    language = person.language.value
    material = None
    stock = latest_snapshot(connection)
    if stock is not None:
        material = connection.execute(select(col(Material.name), col(Material.currency)).where(
            col(Material.snapshot_id) == stock.id, col(Material.sku) == case.sku)).first()
    reasons = case_reasons(case.lines, case.rule) or rule_reasons(connection, case.rule, case.sku, case.site)
    actions = [{"action": action, "label": action_label(action, language),
                "url": action_url(settings, notification.case_id, person, action)}
               for action in actions_for(case, person)]
    return {
        "person": {"name": person.name, "email": person.email},
        "my_cases": my_cases_url(settings, person.email),
        "deadline": deadline_of(case.state, case.acknowledge_due, case.resolve_due),
        "notice": case.failed_delivery or {},
        "actions": actions,
        "case": {
            "id": notification.case_id, "rule": case.rule, "severity": case.severity,
            "title": case.title_zh if language == "zh-CN" else case.title_en,
            "sku": case.sku, "site": case.site, "state": case.state,
            "sku_name": material.name if material else "", "currency": material.currency if material else settings.default_currency,
            "value": str(case.value()), "lines": case.lines,
            "reasons": reasons, "proposal": case.proposal, "reason": case.reason or "", "changes": case.changes,
        },
    }
