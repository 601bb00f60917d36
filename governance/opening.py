"""From a scan's findings to case requests: one case per (rule, SKU, site), its lot findings as lines.

The owner comes from the policy's owner scopes (first match wins) applied to the SKU-site's material
(category, risk class, lifecycle, storage), the SLA and dispositions from the rule. Cases the mirror
holds open that the scan no longer supports are listed too: their lines are now empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from governance.models import CaseRow
from inventory.models import Material
from rules.models import FindingRow, PolicyVersion, Scan
from rules.versions import stored_policy

FINAL_STATES = ("resolved", "resolved_by_itself", "cancelled")


def case_id(rule: str, sku: str, site: str) -> str:
    """The workflow id: the same finding on a later scan reaches the same case, never a second one."""
    return f"case/{rule}/{site}/{sku}"


@dataclass(frozen=True)
class CaseRequest:
    case: dict[str, Any]
    """The fields of workflows.case.CaseInput."""
    lines: list[dict[str, Any]]
    """The fields of activities.cases.CaseLine; empty when the finding cleared."""


def case_requests(connection: Connection, scan_id: int) -> list[CaseRequest]:
    scan = Scan.model_validate(connection.execute(select(Scan).where(Scan.id == scan_id)).one()._mapping)  # type: ignore[arg-type]
    version = connection.execute(select(PolicyVersion).where(PolicyVersion.id == scan.policy_version_id)).one()  # type: ignore[arg-type]
    policy = stored_policy(version.text, f"policy_version {version.id}")
    rules = {rule.id: rule for rule in policy.rules}
    f, m = FindingRow.__table__.c, Material.__table__.c  # type: ignore[attr-defined]
    rows = connection.execute(
        select(f.rule, f.sku, f.site, f.lot, f.serial, f.value, f.metrics, m.category, m.risk_class, m.lifecycle,
               m.storage)
        .join(Material.__table__, and_(m.snapshot_id == scan.snapshot_id, m.sku == f.sku))  # type: ignore[attr-defined]
        .where(f.scan_id == scan_id).order_by(f.rule, f.site, f.sku, f.lot, f.serial))
    grouped: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for row in rows:
        key = case_id(row.rule, row.sku, row.site)
        if key not in grouped:
            rule = rules[row.rule]
            subject = {"sku": row.sku, "site": row.site, "category": row.category, "risk_class": row.risk_class,
                       "lifecycle": row.lifecycle, "storage": row.storage}
            owner = policy.owner_for(subject)
            assert owner is not None  # the policy check demands a catch-all owner
            grouped[key] = ({
                "case_id": key, "rule": rule.id, "sku": row.sku, "site": row.site, "severity": rule.severity.value,
                "title_en": rule.title.en, "title_zh": rule.title.zh_cn,
                "policy_version": f"{policy.policy} v{policy.version}", "owner": owner.owner,
                "escalation": list(owner.escalation), "committee": list(policy.committee),
                "acknowledge_seconds": rule.sla.acknowledge.total_seconds(),
                "resolve_seconds": rule.sla.resolve.total_seconds(),
                "snooze_max_seconds": rule.sla.snooze_max.total_seconds() if rule.sla.snooze_max else 0.0,
                "dispositions": [d.value for d in rule.dispositions],
            }, [])
        metrics = row.metrics if isinstance(row.metrics, dict) else {}
        grouped[key][1].append({"lot": row.lot, "serial": row.serial, "value": str(row.value), "metrics": metrics})
    requests = [CaseRequest(case, lines) for case, lines in grouped.values()]
    still_open = connection.execute(select(CaseRow).where(CaseRow.state.not_in(FINAL_STATES)))  # type: ignore[attr-defined]
    for row in still_open:
        if row.id not in grouped:
            requests.append(CaseRequest({"case_id": row.id}, []))
    return requests
