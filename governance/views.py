"""A case as JSON, the one shape the API's list and detail answer with (the mirror row, not a query of
the workflow), so every reader of a case sees the same fields."""

from __future__ import annotations

from typing import Any

from core.db import as_utc


def case_json(row: Any) -> dict[str, Any]:
    """A case mirror row (CaseRow, or a row of its table) as the API shows it."""
    return {"workflow_id": row.id, "rule": row.rule, "sku": row.sku, "site": row.site, "severity": row.severity,
            "state": row.state, "owner": row.owner, "assignees": row.assignees, "escalation_level": row.escalation_level,
            "acknowledge_due": as_utc(row.acknowledge_due).isoformat(), "resolve_due": as_utc(row.resolve_due).isoformat(),
            "value": float(row.value), "lines": lines_json(row.lines), "proposal": row.proposal}


def lines_json(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A case's lines: lot, serial, quantity and value of each."""
    return [{"lot": line["lot"], "serial": line["serial"], "quantity": line.get("quantity"), "value": line["value"]}
            for line in lines]
