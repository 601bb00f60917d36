"""What a message says: the case as its step left it, the SKU's name and currency, why the rule fired
(each metric against its threshold), what the recipient may do and by when, and signed action links."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from core.settings import Settings
from governance.opening import deadline_of
from inventory.metrics import latest_snapshot
from inventory.models import Material
from notifications.links import sign, sign_my_cases
from notifications.messages import action_label
from notifications.models import Notification
from notifications.people import Person
from rules.models import FindingRow
from rules.scan import latest_scan


def actions_for(snapshot: dict[str, Any], person: Person) -> list[str]:
    """The actions a link may carry for this person at this step (the case's Update still checks)."""
    state, proposal = snapshot.get("state"), snapshot.get("proposal") or {}
    if state == "awaiting_approval" and person.email != proposal.get("by"):
        return ["approve", "reject"]
    if person.email not in (snapshot.get("assignees") or []):
        return []
    if state == "open":
        return ["acknowledge", "propose"]
    if state == "acknowledged":
        return ["propose"]
    return []


def rule_reasons(connection: Connection, rule: str, sku: str, site: str) -> list[dict[str, Any]]:
    """Why the rule fired on this SKU-site in the latest scan: each metric against its threshold."""
    scan = latest_scan(connection)
    if scan is None:
        return []
    row = connection.execute(select(FindingRow.reasons).where(
        FindingRow.scan_id == scan.id, FindingRow.rule == rule, FindingRow.sku == sku,  # type: ignore[arg-type]
        FindingRow.site == site).limit(1)).first()  # type: ignore[arg-type]
    return list(row.reasons) if row else []


def action_url(settings: Settings, case_id: str, person: Person, action: str) -> str:
    return f"{settings.public_url.rstrip('/')}/act/{sign(settings.secret_key, case_id, person.email, action)}"


def my_cases_url(settings: Settings, person: str) -> str:
    """Signs `person` in on the pages (api/pages.py) and lists their cases."""
    return f"{settings.public_url.rstrip('/')}/pages/enter/{sign_my_cases(settings.secret_key, person)}"


def case_context(connection: Connection, notification: Notification, person: Person, settings: Settings) -> dict[str, Any]:
    snapshot = notification.snapshot
    language = person.language.value
    material = None
    stock = latest_snapshot(connection)
    if stock is not None:
        material = connection.execute(select(Material.name, Material.currency).where(
            Material.snapshot_id == stock.id, Material.sku == snapshot["sku"])).first()  # type: ignore[arg-type]
    reasons = rule_reasons(connection, snapshot["rule"], snapshot["sku"], snapshot["site"])
    lines = snapshot.get("lines") or []
    state = snapshot.get("state")
    deadline = deadline_of(state, snapshot["acknowledge_due"], snapshot["resolve_due"])
    actions = [{"action": action, "label": action_label(action, language),
                "url": action_url(settings, notification.case_id, person, action)}
               for action in actions_for(snapshot, person)]
    return {
        "person": {"name": person.name, "email": person.email},
        "my_cases": my_cases_url(settings, person.email),
        "deadline": deadline,
        "notice": snapshot.get("failed_delivery") or {},
        "actions": actions,
        "case": {
            "id": notification.case_id, "rule": snapshot["rule"], "severity": snapshot["severity"],
            "title": snapshot.get("title_zh") if language == "zh-CN" else snapshot.get("title_en"),
            "sku": snapshot["sku"], "site": snapshot["site"], "state": state,
            "sku_name": material.name if material else "", "currency": material.currency if material else settings.default_currency,
            "value": str(sum((Decimal(line["value"]) for line in lines), Decimal(0))),
            "lines": [{"lot": line["lot"], "serial": line["serial"], "quantity": line.get("quantity", "0"),
                       "value": line["value"], "expires_on": line.get("expires_on") or ""} for line in lines],
            "reasons": reasons, "proposal": snapshot.get("proposal"), "reason": snapshot.get("reason", ""),
        },
    }
