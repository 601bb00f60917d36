"""Incremental re-evaluation: apply movements, recompute only the SKU-sites they touch, update the findings.

The latest scan's findings are brought up to date in place, so they stay what a full re-scan of the
same data would store (tests/test_incremental.py holds the two equal). All of it is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, tuple_, update
from sqlmodel import col

from core.db import table
from inventory.bulk import BulkWriter
from inventory.fields import DEFAULT_NUMBER_FORMAT, NumberFormat
from inventory.metrics import iter_facts, latest_snapshot
from inventory.movements import apply_movements
from rules.engine import Finding, evaluator_for
from rules.models import FindingRow, Scan
from rules.scan import FINDING_COLUMNS, NothingToScan, finding_json, finding_values, latest_scan
from rules.versions import active_version


@dataclass(frozen=True)
class Reevaluation:
    movements: int
    sku_sites: int
    opened: list[Finding]
    cleared: list[FindingRow]
    refreshed: int
    skipped: int = 0
    """Movements of the file that were applied before (inventory.movements.identities), left out."""


def finding_subject(finding: Finding | FindingRow) -> dict[str, Any]:
    """Which finding: its rule and subject, named as finding_json names them whether the finding was
    opened (a Finding) or cleared (a stored row): a SKU finding has no lot or serial (null), a lot
    finding its lot and serial ('' when the lot has none). The API's cleared findings said '' for a SKU
    finding's lot where its opened ones said null."""
    named = finding_json(finding)
    return {key: named[key] for key in ("rule", "sku", "site", "lot", "serial")}


def reevaluate(engine: Engine, path: Path, *, actor: str,
               number_format: NumberFormat = DEFAULT_NUMBER_FORMAT) -> Reevaluation:
    """Apply the movements in `path` not applied before and return the findings they opened and cleared."""
    with engine.begin() as connection:
        snapshot = latest_snapshot(connection)
        scan = latest_scan(connection)
        active = active_version(connection)
        if snapshot is None or scan is None or active is None or scan.snapshot_id != snapshot.id:
            raise NothingToScan("movements update the findings of a scan: load a snapshot, activate a policy and "
                                "run `stockwarden scan` first")
        policy = active[1]
        evaluator = evaluator_for(policy)
        if scan.policy_hash != evaluator.policy_hash:
            raise NothingToScan(f"the latest scan used {scan.policy_name} v{scan.policy_version}, not the active "
                                f"{policy.policy} v{policy.version}: run `stockwarden scan` first")
        applied = apply_movements(connection, snapshot, path, actor=actor, number_format=number_format)
        groups = list(iter_facts(connection, snapshot, applied.sku_sites))
        fresh = {f.key: f for f in evaluator.evaluate(groups)}
        f = table(FindingRow).c
        touched = tuple_(f.sku, f.site).in_(sorted(applied.sku_sites))
        stored = {(r.rule, r.sku, r.site, r.lot, r.serial): r
                  for r in connection.execute(select(table(FindingRow)).where(f.scan_id == scan.id, touched))}

        # Rows stay rows until they leave as cleared findings: validating every stored finding of the
        # SKU-site was a tenth of a one-movement re-evaluation.
        cleared = [FindingRow.model_validate(stored[key]._mapping) for key in sorted(stored.keys() - fresh.keys())]
        opened = [fresh[key] for key in sorted(fresh.keys() - stored.keys())]
        if cleared:
            connection.execute(delete(FindingRow).where(col(FindingRow.id).in_([row.id for row in cleared])))
        writer = BulkWriter(connection, table(FindingRow), FINDING_COLUMNS)
        for finding in opened:
            writer.add(finding_values(scan.id, finding))  # type: ignore[arg-type]
        writer.flush()
        changed: list[dict[str, Any]] = []
        for key in sorted(fresh.keys() & stored.keys()):
            new, old = fresh[key], stored[key]
            if (new.value, new.metrics, new.reasons) != (old.value, old.metrics, old.reasons):
                changed.append({"row_id": old.id, "new_value": new.value, "new_metrics": new.metrics,
                                "new_reasons": new.reasons})
        if changed:  # one statement for all of them
            connection.execute(update(FindingRow).where(col(FindingRow.id) == bindparam("row_id")).values(
                value=bindparam("new_value"), metrics=bindparam("new_metrics"), reasons=bindparam("new_reasons")),
                changed)
        refreshed = len(changed)
        if len(opened) != len(cleared):  # most movements open and clear nothing: no round trip for that
            connection.execute(update(Scan).where(col(Scan.id) == scan.id).values(
                finding_count=col(Scan.finding_count) + len(opened) - len(cleared)))
    return Reevaluation(applied.rows, len(applied.sku_sites), opened, cleared, refreshed, applied.skipped)
