"""From a scan's findings to case requests: one case per stock position (one SKU at one site, for one owner).

A case's lines are the position's lots: a lot with a lot finding, and every lot of a SKU-site with a SKU
finding (slow turnover, over-cover, phase-out), which is a reason on each of them; where a SKU rule may
cut orders, the SKU-site's open purchase-order lines are lines too. Each line carries every finding on it;
its governing rule is the most severe (policy order breaks ties), and it allows what every lot rule on it
allows (where they share nothing, the governing rule's), less what the guard forbids: stock in
quarantine, on hold, rejected or expired is never reallocated, substituted or sold. Zero quantities are no
lines. The owner comes from the policy's owner scopes (first match wins), per lot, so quarantined stock
owned by QA is a case of its own.

A position's case is found through the mirror: an open case is refreshed; an ended one is never started
again (its workflow id is rejected as a duplicate): a later snapshot's findings open its next generation,
while a re-scan of the snapshot it last saw changes nothing. Open cases the scan no longer supports are
listed with no lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, tuple_
from sqlmodel import col

from core.case import (
    FINAL_STATES,
    REDUCE_PURCHASE_ORDER,
    UNUSABLE_QC,
    Approval,
    CaseInput,
    CaseLine,
    Condition,
    Evidenced,
    LineFinding,
    Lines,
    case_id,
    position_key,
    severity_rank,
)
from core.db import table
from governance.evidence import evidence
from governance.models import CaseRow, ErpInstruction
from governance.outbox import unconfirmed
from inventory.models import LotPosition, Material, PurchaseOrderLine, Snapshot
from rules.models import FindingRow, PolicyVersion, Scan
from rules.overlaps import lot_dispositions
from rules.policy import OwnerScope, Policy, Rule
from rules.versions import stored_policy


@dataclass(frozen=True)
class CaseRequest:
    """What a scan asks of one case: open or refresh it (`case` set: signal-with-start), or tell a case it no
    longer finds anything (`case` None, no lines)."""

    case_id: str
    case: CaseInput | None
    refresh: Lines = field(default_factory=Lines)

    @property
    def lines(self) -> list[CaseLine]:
        return self.refresh.lines


@dataclass
class _Lot:
    sku: str
    site: str
    lot: str
    serial: str
    qty: Decimal
    received_on: date | None
    expires_on: date | None
    qc_status: str


@dataclass
class _Position:
    sku: str
    site: str
    owner: OwnerScope
    supplier: str
    substitutes: list[str]
    lines: list[CaseLine] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)


@dataclass
class _Mirrored:
    id: str
    state: str
    snapshot_id: int
    generation: int


def case_requests(connection: Connection, scan_id: int) -> list[CaseRequest]:
    scan = Scan.model_validate(connection.execute(select(Scan).where(col(Scan.id) == scan_id)).one()._mapping)
    version = connection.execute(select(PolicyVersion).where(col(PolicyVersion.id) == scan.policy_version_id)).one()
    policy = stored_policy(version.text, f"policy_version {version.id}")
    as_of = connection.execute(select(col(Snapshot.as_of)).where(col(Snapshot.id) == scan.snapshot_id)).scalar_one()
    positions = _positions(connection, scan, policy, as_of)
    latest = _mirrored(connection)
    order = {rule.id: n for n, rule in enumerate(policy.rules)}
    rules = {rule.id: rule for rule in policy.rules}
    requests: list[CaseRequest] = []
    wanted: set[str] = set()
    for key, position in positions.items():
        before = latest.get(key)
        if before is not None and before.state in FINAL_STATES and before.snapshot_id == scan.snapshot_id:
            wanted.add(before.id)
            continue  # the case ended on this very snapshot: a re-scan of it changes nothing
        generation = 1 if before is None else before.generation + (1 if before.state in FINAL_STATES else 0)
        new_id = case_id(key, generation)
        wanted.add(new_id)
        case, refresh = _case(policy, rules, order, position, key, generation, scan.snapshot_id)
        requests.append(CaseRequest(new_id, case, refresh))
    for mirrored in latest.values():
        if mirrored.state not in FINAL_STATES and mirrored.id not in wanted:
            requests.append(CaseRequest(mirrored.id, None, Lines(snapshot_id=scan.snapshot_id)))
    _attach_evidence(connection, requests, scan.snapshot_id)
    return requests


def after_rejection(connection: Connection, request: CaseRequest) -> CaseRequest | None:
    """What to start when Temporal refused to start `request` because its case id has ended: the case
    ended after this scan read the mirror (its last step is recorded before its workflow closes, so the
    mirror knows by now). The position's next case, unless the case ended on this very snapshot (a re-scan
    of it changes nothing) or is not known to have ended."""
    if request.case is None:
        return None
    c = table(CaseRow).c
    row = connection.execute(select(c.state, c.snapshot_id, c.generation, c.position)
                             .where(c.id == request.case_id)).first()
    if row is None or row.state not in FINAL_STATES or row.snapshot_id == request.refresh.snapshot_id:
        return None
    generation = row.generation + 1
    new_id = case_id(row.position or request.case.position, generation)
    return CaseRequest(new_id, replace(request.case, case_id=new_id, generation=generation), request.refresh)


def _attach_evidence(connection: Connection, requests: list[CaseRequest], snapshot_id: int) -> None:
    """Beside each case's lines, the instructions out for it that this snapshot shows carried out."""
    waiting: dict[str, list[ErpInstruction]] = defaultdict(list)
    for instruction in unconfirmed(connection):
        waiting[instruction.case_id].append(instruction)
    for request in requests:
        if request.case_id in waiting:
            request.refresh.evidenced = [
                Evidenced(seen.instruction_id, str(seen.done), seen.how)
                for seen in evidence(connection, waiting[request.case_id], snapshot_id)]


def _mirrored(connection: Connection) -> dict[str, _Mirrored]:
    """Each position's latest case (its highest generation), as the mirror holds it."""
    latest: dict[str, _Mirrored] = {}
    rows = connection.execute(select(col(CaseRow.id), col(CaseRow.position), col(CaseRow.state),
                                     col(CaseRow.snapshot_id), col(CaseRow.generation))
                              .where(col(CaseRow.position) != ""))
    for row in rows:
        seen = latest.get(row.position)
        if seen is None or row.generation > seen.generation:
            latest[row.position] = _Mirrored(row.id, row.state, row.snapshot_id, row.generation)
    return latest


def _positions(connection: Connection, scan: Scan, policy: Policy, as_of: date) -> dict[str, _Position]:
    f, m, p, o = table(FindingRow).c, table(Material).c, table(LotPosition).c, table(PurchaseOrderLine).c
    rules = {rule.id: rule for rule in policy.rules}
    order = {rule.id: n for n, rule in enumerate(policy.rules)}
    lot_findings: dict[tuple[str, str, str, str], list[LineFinding]] = defaultdict(list)
    sku_findings: dict[tuple[str, str], list[LineFinding]] = defaultdict(list)
    metrics_of: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    for row in connection.execute(select(f.rule, f.level, f.sku, f.site, f.lot, f.serial, f.severity, f.metrics,
                                         f.reasons).where(f.scan_id == scan.id)):
        rule = rules[row.rule]
        finding = LineFinding(row.rule, row.severity, row.level,
                              [Condition(r.get("metric", ""), r.get("operator", ""), r.get("threshold"), r.get("value"))
                               for r in (row.reasons or []) if isinstance(r, dict)],
                              rule.title.en, rule.title.zh_cn)
        metrics_of[(row.rule, row.sku, row.site, row.lot, row.serial)] = row.metrics if isinstance(row.metrics, dict) else {}
        if row.level == "sku":
            sku_findings[(row.sku, row.site)].append(finding)
        else:
            lot_findings[(row.sku, row.site, row.lot, row.serial)].append(finding)
    sku_sites = set(sku_findings) | {(sku, site) for sku, site, _, _ in lot_findings}
    if not sku_sites:
        return {}
    materials = {row.sku: row for row in connection.execute(
        select(m.sku, m.category, m.risk_class, m.lifecycle, m.storage, m.unit_cost, m.supplier, m.return_window_days,
               m.substitutes).where(m.snapshot_id == scan.snapshot_id, m.sku.in_(sorted({s for s, _ in sku_sites}))))}
    positions: dict[str, _Position] = {}

    def subject(sku: str, site: str, qc_status: str | None) -> dict[str, Any]:
        material = materials[sku]
        return {"sku": sku, "site": site, "category": material.category, "risk_class": material.risk_class,
                "lifecycle": material.lifecycle, "storage": material.storage, "qc_status": qc_status}

    def position_of(sku: str, site: str, qc_status: str | None) -> _Position:
        owner = policy.owner_for(subject(sku, site, qc_status))
        assert owner is not None  # the policy check demands a catch-all owner
        key = position_key(sku, site, owner.owner)
        if key not in positions:
            material = materials[sku]
            positions[key] = _Position(sku, site, owner, material.supplier, list(material.substitutes or []))
        return positions[key]

    keys = sorted(sku_sites)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        lots = connection.execute(
            select(p.sku, p.site, p.lot, p.serial, p.qty, p.received_on, p.expires_on, p.qc_status)
            .where(p.snapshot_id == scan.snapshot_id, tuple_(p.sku, p.site).in_(chunk), p.qty > 0)
            .order_by(p.sku, p.site, p.expires_on, p.lot, p.serial))
        for lot_row in lots:
            lot = _Lot(lot_row.sku, lot_row.site, lot_row.lot, lot_row.serial, Decimal(lot_row.qty),
                       lot_row.received_on, lot_row.expires_on, lot_row.qc_status)
            own = lot_findings.get((lot.sku, lot.site, lot.lot, lot.serial), [])
            shared = sku_findings.get((lot.sku, lot.site), [])
            if not own and not shared:
                continue
            findings = own + shared
            governing = min(findings, key=lambda x: (severity_rank(x.severity), order[x.rule]))
            material = materials[lot.sku]
            returnable = material.return_window_days is not None and lot.received_on is not None
            line = CaseLine(
                lot=lot.lot, serial=lot.serial, value=str(lot.qty * Decimal(material.unit_cost)),
                metrics=metrics_of.get((governing.rule, lot.sku, lot.site, lot.lot if governing.level == "lot" else "",
                                        lot.serial if governing.level == "lot" else ""), {}),
                quantity=str(lot.qty),
                return_by=(lot.received_on + timedelta(days=material.return_window_days)).isoformat()
                if returnable and lot.received_on else "",
                expires_on=lot.expires_on.isoformat() if lot.expires_on else "",
                findings=findings, rule=governing.rule,
                # A SKU rule speaks of the SKU-site as a whole: it decides a lot's dispositions only where no
                # lot rule fired on it.
                dispositions=[d.value for d in lot_dispositions(
                    [rules[x.rule] for x in own or shared], rules[governing.rule], guarded=(
                        lot.qc_status in UNUSABLE_QC or (lot.expires_on is not None and lot.expires_on < as_of)))],
                qc_status=lot.qc_status)
            position = position_of(lot.sku, lot.site, lot.qc_status)
            position.lines.append(line)
            position.rules.update(x.rule for x in findings)
        cutting = [(sku, site) for sku, site in chunk
                   if any(REDUCE_PURCHASE_ORDER in rules[x.rule].dispositions for x in sku_findings.get((sku, site), []))]
        if not cutting:
            continue
        for po_row in connection.execute(
                select(o.sku, o.site, o.po, o.line, o.qty_open)
                .where(o.snapshot_id == scan.snapshot_id, tuple_(o.sku, o.site).in_(cutting), o.qty_open > 0)
                .order_by(o.sku, o.site, o.po, o.line)):
            findings = [x for x in sku_findings[(po_row.sku, po_row.site)] if REDUCE_PURCHASE_ORDER in rules[x.rule].dispositions]
            governing = min(findings, key=lambda x: (severity_rank(x.severity), order[x.rule]))
            position = position_of(po_row.sku, po_row.site, None)
            position.lines.append(CaseLine(
                lot="", serial="", po=f"{po_row.po}/{po_row.line}", quantity=str(Decimal(po_row.qty_open)),
                value=str(Decimal(po_row.qty_open) * Decimal(materials[po_row.sku].unit_cost)),
                metrics=metrics_of.get((governing.rule, po_row.sku, po_row.site, "", ""), {}), findings=findings,
                rule=governing.rule, dispositions=[REDUCE_PURCHASE_ORDER]))
            position.rules.update(x.rule for x in findings)
    # A position whose only lines are on order but whose lots belong to another owner still opens: the
    # orders are this owner's to cut. A position with no line at all (every lot empty) opens nothing.
    return {key: position for key, position in positions.items() if position.lines}


def _case(policy: Policy, rules: dict[str, Rule], order: dict[str, int], position: _Position, key: str,
          generation: int, snapshot_id: int) -> tuple[CaseInput, Lines]:
    governing_line = min(position.lines, key=lambda line: (
        severity_rank(next(x.severity for x in line.findings if x.rule == line.rule)), order[line.rule]))
    governing = rules[governing_line.rule]
    fired = [rules[rule_id] for rule_id in sorted(position.rules, key=order.__getitem__)]
    owner = position.owner
    dispositions = [d.value for rule in fired for d in rule.dispositions]
    allowed = [d for d in dict.fromkeys(dispositions) if any(d in line.dispositions for line in position.lines)]
    refresh = Lines(
        lines=position.lines, severity=governing.severity.value, rule=governing.id, title_en=governing.title.en,
        title_zh=governing.title.zh_cn, acknowledge_seconds=min(r.sla.acknowledge.total_seconds() for r in fired),
        resolve_seconds=min(r.sla.resolve.total_seconds() for r in fired), dispositions=allowed,
        snapshot_id=snapshot_id)
    snoozes = [r.sla.snooze_max.total_seconds() for r in fired if r.sla.snooze_max]
    case = CaseInput(
        case_id=case_id(key, generation), rule=governing.id, sku=position.sku, site=position.site,
        severity=refresh.severity, title_en=refresh.title_en, title_zh=refresh.title_zh,
        policy_version=f"{policy.policy} v{policy.version}", owner=owner.owner,
        escalation=list(owner.escalation), committee=list(policy.committee),
        acknowledge_seconds=refresh.acknowledge_seconds, resolve_seconds=refresh.resolve_seconds,
        snooze_max_seconds=min(snoozes, default=0.0),
        dispositions=allowed, qa=list(policy.qa),
        approvals={d.value: Approval(a.qa_signoff, None if a.committee_over_value is None else str(a.committee_over_value))
                   for d, a in policy.approvals.items()},
        supplier=position.supplier, substitutes=list(position.substitutes),
        position=key, generation=generation, snapshot_id=snapshot_id)
    return case, refresh


