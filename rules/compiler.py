"""Compiling a policy into a durable-rules ruleset, built from the policy's data (no decorators per rule).

A rule with `any` groups becomes one durable rule per group (`when` AND group i): the engine then tells
not only that the rule fired but which groups held, and those are the reasons a finding gives.
Values reach the engine in comparable form: durations as days, dates as day numbers, money as floats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from rules.checks import threshold_value
from rules.policy import Condition, Policy, Rule
from rules.vocabulary import METRICS_BY_LEVEL, Kind

_COMPARE = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}


@dataclass(frozen=True)
class CompiledRule:
    rule_index: int
    group_index: int | None


@dataclass(frozen=True)
class CompiledPolicy:
    name: str
    """The durable-rules ruleset name; derived from the policy's content, since a name registers once."""
    ruleset: dict[str, Any]
    parts: dict[str, CompiledRule]


def policy_hash(policy: Policy) -> str:
    """A hash of what the policy says, not of how the file is laid out."""
    canonical = json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _one_of(metric: str, values: list[Any]) -> dict[str, Any]:
    options = [{metric: v} for v in values]
    return options[0] if len(options) == 1 else {"$or": options}


def compile_condition(metric: str, kind: Kind, condition: Condition) -> list[dict[str, Any]]:
    """The durable-rules terms for one metric's condition; all of them must hold."""
    terms: list[dict[str, Any]] = []
    for operator, raw in condition.operators().items():
        if operator == "is_null":
            terms.append({"$nex" if raw else "$ex": {metric: 1}})
            continue
        if operator in ("in", "not_in", "between"):
            values = [threshold_value(kind, v) for v in raw]
        else:
            value = threshold_value(kind, raw)
        if operator in _COMPARE:
            terms.append({_COMPARE[operator]: {metric: value}})
        elif operator == "eq":
            terms.append({metric: value})
        elif operator == "ne":
            terms.append({"$and": [{"$ex": {metric: 1}}, {"$neq": {metric: value}}]})
        elif operator == "in":
            terms.append(_one_of(metric, values))
        elif operator == "not_in":
            terms.append({"$and": [{"$ex": {metric: 1}}, *({"$neq": {metric: v}} for v in values)]})
        elif operator == "between":
            terms.append({"$and": [{"$gte": {metric: values[0]}}, {"$lte": {metric: values[1]}}]})
    return terms


def _rule_terms(rule: Rule) -> list[dict[str, Any]]:
    metrics = METRICS_BY_LEVEL[rule.level]
    terms: list[dict[str, Any]] = [{"level": rule.level.value}]
    for key, values in rule.scope.items().items():
        terms.append(_one_of(key, values))
    for metric, condition in rule.when.items():
        terms.extend(compile_condition(metric, metrics[metric], condition))
    return terms


def compile_policy(policy: Policy) -> CompiledPolicy:
    ruleset: dict[str, Any] = {}
    parts: dict[str, CompiledRule] = {}
    for index, rule in enumerate(policy.rules):
        base = _rule_terms(rule)
        metrics = METRICS_BY_LEVEL[rule.level]
        groups: list[tuple[int | None, list[dict[str, Any]]]] = [(None, [])]
        if rule.any:
            groups = [(i, [t for metric, c in group.items() for t in compile_condition(metric, metrics[metric], c)])
                      for i, group in enumerate(rule.any)]
        for group_index, extra in groups:
            name = rule.id if group_index is None else f"{rule.id}#{group_index}"
            ruleset[name] = {"all": [{"m": {"$and": base + extra}}], "run": name}
            parts[name] = CompiledRule(index, group_index)
    return CompiledPolicy(f"policy-{policy_hash(policy)[:24]}", ruleset, parts)
