"""From a scan's findings to case requests: one case per (rule, SKU, site), its lot findings as lines.

The owner comes from the policy's owner scopes (first match wins) applied to the SKU-site's material
(category, risk class, lifecycle, storage), the SLA and dispositions from the rule. Cases the mirror
holds open that the scan no longer supports are listed too: their lines are now empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, and_, func, select
from sqlmodel import col

from core.case import (
    FINAL_STATES,
    Approval,
    CaseInput,
    CaseLine,
    case_id,
)
from governance.models import CaseRow
from inventory.models import LotPosition, Material
from rules.models import FindingRow, PolicyVersion, Scan
from rules.versions import stored_policy


@dataclass(frozen=True)
class CaseRequest:
    """What a scan asks of one case: open or refresh it with `case` and its lines, or (no lines, and no
    input when the scan no longer finds it at all) tell it its finding cleared."""

    case_id: str
    case: CaseInput | None
    lines: list[CaseLine] = field(default_factory=list)


def case_requests(connection: Connection, scan_id: int) -> list[CaseRequest]:
    scan = Scan.model_validate(connection.execute(select(Scan).where(col(Scan.id) == scan_id)).one()._mapping)
    version = connection.execute(select(PolicyVersion).where(col(PolicyVersion.id) == scan.policy_version_id)).one()
    policy = stored_policy(version.text, f"policy_version {version.id}")
    rules = {rule.id: rule for rule in policy.rules}
    f, m, p = FindingRow.__table__.c, Material.__table__.c, LotPosition.__table__.c  # type: ignore[attr-defined]
    # A SKU finding's line is the whole SKU-site: its stock, and the oldest receipt bounds a return.
    sku_stock = (select(p.sku, p.site, func.sum(p.qty).label("qty"), func.min(p.received_on).label("received_on"),
                        func.min(p.expires_on).label("expires_on"))
                 .where(p.snapshot_id == scan.snapshot_id).group_by(p.sku, p.site).subquery())
    lot = LotPosition.__table__.alias("lot")  # type: ignore[attr-defined]
    rows = connection.execute(
        select(f.rule, f.sku, f.site, f.lot, f.serial, f.value, f.metrics, m.category, m.risk_class, m.lifecycle,
               m.storage, m.supplier, m.return_window_days, m.substitutes,
               func.coalesce(lot.c.qty, sku_stock.c.qty).label("qty"),
               func.coalesce(lot.c.received_on, sku_stock.c.received_on).label("received_on"),
               func.coalesce(lot.c.expires_on, sku_stock.c.expires_on).label("expires_on"))
        .join(Material.__table__, and_(m.snapshot_id == scan.snapshot_id, m.sku == f.sku))  # type: ignore[attr-defined]
        .outerjoin(lot, and_(lot.c.snapshot_id == scan.snapshot_id, lot.c.sku == f.sku, lot.c.site == f.site,
                             lot.c.lot == f.lot, lot.c.serial == f.serial, f.level == "lot"))
        .outerjoin(sku_stock, and_(sku_stock.c.sku == f.sku, sku_stock.c.site == f.site, f.level == "sku"))
        .where(f.scan_id == scan_id).order_by(f.rule, f.site, f.sku, f.lot, f.serial))
    grouped: dict[str, tuple[CaseInput, list[CaseLine]]] = {}
    for row in rows:
        key = case_id(row.rule, row.sku, row.site)
        if key not in grouped:
            rule = rules[row.rule]
            subject = {"sku": row.sku, "site": row.site, "category": row.category, "risk_class": row.risk_class,
                       "lifecycle": row.lifecycle, "storage": row.storage}
            owner = policy.owner_for(subject)
            assert owner is not None  # the policy check demands a catch-all owner
            grouped[key] = (CaseInput(
                case_id=key, rule=rule.id, sku=row.sku, site=row.site, severity=rule.severity.value,
                title_en=rule.title.en, title_zh=rule.title.zh_cn,
                policy_version=f"{policy.policy} v{policy.version}", owner=owner.owner,
                escalation=list(owner.escalation), committee=list(policy.committee),
                acknowledge_seconds=rule.sla.acknowledge.total_seconds(),
                resolve_seconds=rule.sla.resolve.total_seconds(),
                snooze_max_seconds=rule.sla.snooze_max.total_seconds() if rule.sla.snooze_max else 0.0,
                dispositions=[d.value for d in rule.dispositions], qa=list(policy.qa),
                approvals={d.value: Approval(a.qa_signoff, None if a.committee_over_value is None
                                             else str(a.committee_over_value))
                           for d, a in policy.approvals.items() if d in rule.dispositions},
                supplier=row.supplier, substitutes=list(row.substitutes or []),
            ), [])
        metrics = row.metrics if isinstance(row.metrics, dict) else {}
        returnable = row.return_window_days is not None and row.received_on is not None
        grouped[key][1].append(CaseLine(
            lot=row.lot, serial=row.serial, value=str(row.value), metrics=metrics,
            quantity=str(row.qty if row.qty is not None else 0),
            return_by=(row.received_on + timedelta(days=row.return_window_days)).isoformat() if returnable else "",
            expires_on=row.expires_on.isoformat() if row.expires_on else ""))
    requests = [CaseRequest(case.case_id, case, lines) for case, lines in grouped.values()]
    still_open = connection.execute(select(col(CaseRow.id)).where(col(CaseRow.state).not_in(FINAL_STATES)))
    for (open_id,) in still_open:
        if open_id not in grouped:
            requests.append(CaseRequest(open_id, None))
    return requests
