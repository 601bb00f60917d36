"""Evaluating facts against a compiled policy with durable-rules, in bounded chunks, into findings.

durable-rules keeps every asserted fact in memory (about 8 KB each) and never gives it back, so facts
go in a chunk at a time and are retracted before the next chunk: memory stays flat however large the
snapshot. Actions only record (rule, fact id); an exception inside an action would be swallowed by
the engine, so nothing that can fail runs there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from durable.engine import Host, MessageNotHandledException

from inventory.metrics import LotFact, SkuSiteFact, SkuSiteFacts
from rules.compiler import CompiledPolicy, compile_policy
from rules.policy import Policy, Rule
from rules.vocabulary import Level

CHUNK_FACTS = 2_000
_LOT_FIELDS = [f.name for f in fields(LotFact)]
_SKU_FIELDS = [f.name for f in fields(SkuSiteFact)]


@dataclass(frozen=True)
class Finding:
    """One rule fired on one subject (a lot, or a SKU at a site), with the numbers that made it fire."""

    rule: str
    level: str
    sku: str
    site: str
    lot: str
    serial: str
    severity: str
    value: Decimal
    """The stock value the finding covers: the lot's value, or the SKU-site's on-hand value."""
    metrics: dict[str, Any]
    reasons: list[dict[str, Any]]
    title: dict[str, str]

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.rule, self.sku, self.site, self.lot, self.serial)


def _engine_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.toordinal()
    return value


def _readable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def engine_facts(group: SkuSiteFacts) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, fact for the engine, readable metrics) for the SKU-site and each of its lots."""
    sku_site = group.sku_site
    shared = {name: getattr(sku_site, name) for name in _SKU_FIELDS}
    yield (f"sku|{sku_site.sku}|{sku_site.site}", _for_engine(shared, Level.SKU), shared)
    for lot in group.lots:
        merged = {**shared, **{name: getattr(lot, name) for name in _LOT_FIELDS}}
        yield (f"lot|{lot.sku}|{lot.site}|{lot.lot}|{lot.serial}", _for_engine(merged, Level.LOT), merged)


def _for_engine(values: dict[str, Any], level: Level) -> dict[str, Any]:
    fact = {name: _engine_value(v) for name, v in values.items() if v is not None}
    fact["level"] = level.value
    return fact


class _RuleHost(Host):
    """One durable-rules host per process; rulesets are registered once under a content-derived name."""

    def __init__(self) -> None:
        super().__init__()
        self.fired: list[tuple[str, str]] = []
        self.registered: set[str] = set()
        self.lock = threading.Lock()

    def get_action(self, action_name: str) -> Any:
        def record(closure: Any) -> None:
            self.fired.append((action_name, closure.m["id"]))
        return record


_host: _RuleHost | None = None
_host_lock = threading.Lock()


def _get_host() -> _RuleHost:
    global _host
    with _host_lock:
        if _host is None:
            _host = _RuleHost()
        return _host


class Evaluator:
    """Evaluates facts against one policy; reusable for any number of snapshots."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.compiled: CompiledPolicy = compile_policy(policy)
        self.host = _get_host()
        with self.host.lock:
            if self.compiled.name not in self.host.registered:
                import copy

                self.host.set_rulesets({self.compiled.name: copy.deepcopy(self.compiled.ruleset)})
                self.host.registered.add(self.compiled.name)

    def fire(self, facts: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Assert a chunk of facts (each with a unique 'id'), retract them, return (durable rule, fact id)."""
        name = self.compiled.name
        with self.host.lock:
            self.host.fired = []
            for fact in facts:
                try:
                    self.host.assert_fact(name, fact)
                except MessageNotHandledException:
                    pass  # no rule matched this fact: not a finding
            for fact in facts:
                try:
                    self.host.retract_fact(name, fact)
                except MessageNotHandledException:
                    pass
            return self.host.fired

    def evaluate(self, groups: Iterable[SkuSiteFacts], chunk: int = CHUNK_FACTS) -> Iterator[Finding]:
        """Findings for every subject of `groups`, one per (rule, subject), streaming chunk by chunk."""
        batch: list[dict[str, Any]] = []
        readable: dict[str, dict[str, Any]] = {}
        for group in groups:
            for fact_id, fact, values in engine_facts(group):
                fact["id"] = fact_id
                batch.append(fact)
                readable[fact_id] = values
            if len(batch) >= chunk:
                yield from self._findings(batch, readable)
                batch, readable = [], {}
        if batch:
            yield from self._findings(batch, readable)

    def _findings(self, batch: list[dict[str, Any]], readable: dict[str, dict[str, Any]]) -> Iterator[Finding]:
        groups_held: dict[tuple[int, str], list[int | None]] = {}
        for durable_rule, fact_id in self.fire(batch):
            part = self.compiled.parts[durable_rule]
            groups_held.setdefault((part.rule_index, fact_id), []).append(part.group_index)
        for (rule_index, fact_id), held in sorted(groups_held.items(), key=lambda item: (item[0][1], item[0][0])):
            yield self._finding(self.policy.rules[rule_index], readable[fact_id], held)

    @staticmethod
    def _finding(rule: Rule, values: dict[str, Any], held: list[int | None]) -> Finding:
        conditions = list(rule.when.items())
        for group_index in sorted(g for g in held if g is not None):
            conditions.extend(rule.any[group_index].items())
        reasons = [{"metric": metric, "operator": operator, "threshold": threshold, "value": _readable(values.get(metric))}
                   for metric, condition in conditions for operator, threshold in condition.operators().items()]
        metrics = {metric: _readable(values.get(metric)) for metric, _ in conditions}
        lot_level = rule.level is Level.LOT
        value = values["value"] if lot_level else values["on_hand_value"]
        metrics["value" if lot_level else "on_hand_value"] = _readable(value)
        return Finding(
            rule=rule.id, level=rule.level.value, sku=values["sku"], site=values["site"],
            lot=values.get("lot", "") if lot_level else "", serial=values.get("serial", "") if lot_level else "",
            severity=rule.severity.value, value=value, metrics=metrics, reasons=reasons,
            title={"en": rule.title.en, "zh-CN": rule.title.zh_cn},
        )
