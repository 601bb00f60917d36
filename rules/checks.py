"""What a policy means, checked on the raw document so these problems show even beside structural ones.

Metric names must exist at the rule's level, thresholds must be in the metric's unit (days as numbers
or durations, money and quantities as numbers, words for words, ISO dates for dates), rule ids must
be unique, and scopes must be able to match something. These are errors: a policy with one is refused.
What a valid policy may still get wrong, rules that can fire on one lot and leave it no disposition in
common, is a warning of rules/overlaps.py, shown by `policy check` beside an activatable policy.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from datetime import date
from typing import Any

from rules.policy import parse_duration
from rules.vocabulary import COMPARISONS, METRICS_BY_LEVEL, SCOPE_KEYS, TEXT_OPERATORS, Kind

Found = tuple[tuple[str | int, ...], str, bool]  # (path, message, is the problem the key itself)


def threshold_value(kind: Kind, value: Any) -> float | str | int:
    """The comparable value of one threshold for a metric of `kind`; ValueError says what is wrong."""
    if isinstance(value, bool):
        raise ValueError(f"{value} is not a {kind.value} threshold")
    if kind is Kind.DAYS:
        if isinstance(value, int | float):
            return value
        try:
            return parse_duration(value).total_seconds() / 86400
        except ValueError:
            raise ValueError(f"'{value}' is not a number of days or a duration such as 30d or 12w") from None
    if kind is Kind.TEXT:
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{value!r} is not a word to compare with")
    if kind is Kind.DATE:
        try:
            return date.fromisoformat(str(value)).toordinal()
        except ValueError:
            raise ValueError(f"'{value}' is not a date (YYYY-MM-DD)") from None
    if isinstance(value, int | float):
        return value
    if kind is Kind.PERCENT and isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            pass
    unit = {Kind.MONEY: "money (a plain amount in the SKU's currency)", Kind.QUANTITY: "a quantity in base units",
            Kind.RATIO: "a ratio", Kind.PERCENT: "a percentage"}[kind]
    raise ValueError(f"'{value}' is in the wrong unit: this metric is {unit}")


def _condition(path: tuple[str | int, ...], metric: str, kind: Kind, condition: Any) -> Iterator[Found]:
    if not isinstance(condition, dict):
        return  # the structural check says what shape is expected
    for operator, value in condition.items():
        where = (*path, operator)
        if operator == "is_null" or not isinstance(operator, str):
            continue
        if kind is Kind.TEXT and operator not in TEXT_OPERATORS:
            yield where, f"'{operator}' does not apply to the text metric '{metric}' (use {', '.join(TEXT_OPERATORS)})", True
            continue
        values = value if operator in ("in", "not_in", "between") else [value]
        if not isinstance(values, list):
            continue
        if operator == "in" and not values:
            yield where, "an empty in list can never match", False
        if operator == "between" and len(values) != 2:
            yield where, f"between takes [low, high], got {len(values)} value(s)", False
        comparable = []
        for index, item in enumerate(values):
            try:
                comparable.append(threshold_value(kind, item))
            except ValueError as exc:
                yield ((*where, index) if operator in ("in", "not_in", "between") else where), str(exc), False
        if operator == "between" and len(comparable) == 2 and comparable[0] > comparable[1]:  # type: ignore[operator]
            yield where, f"between [{values[0]}, {values[1]}] is empty: the low end is above the high end", False
    bounds = {op: condition[op] for op in COMPARISONS if op in condition}
    if {"gt", "gte"} & bounds.keys() and {"lt", "lte"} & bounds.keys():
        try:
            low = max(threshold_value(kind, bounds[op]) for op in ("gt", "gte") if op in bounds)
            high = min(threshold_value(kind, bounds[op]) for op in ("lt", "lte") if op in bounds)
        except (ValueError, TypeError):
            return
        if low > high:  # type: ignore[operator]
            yield path, f"no value can be above {low} and below {high} at once", False


# Words people use for a metric when they do not remember its name.
_SYNONYMS = {
    "dwell": "days_since_movement", "idle": "days_since_movement", "stagnant": "days_since_movement",
    "age": "days_in_stock", "aging": "days_in_stock", "expiry": "days_to_expiry", "expire": "days_to_expiry",
    "cover": "days_of_cover", "coverage": "days_of_cover", "turnover": "turnover_365d", "turns": "turnover_365d",
    "amount": "value", "worth": "value", "stock": "on_hand", "quantity": "qty", "demand": "avg_daily_demand",
    "po": "open_po_qty", "order": "open_po_qty", "shelf": "shelf_life_left_pct", "status": "qc_status",
}


def suggest_metric(name: str, metrics: dict[str, Kind]) -> str | None:
    """A close spelling first; else a word of the name that means a metric (`dwel_days` -> dwell)."""
    close = difflib.get_close_matches(name, sorted(metrics), n=1, cutoff=0.6)
    if close:
        return close[0]
    for token in name.lower().replace("-", "_").split("_"):
        word = difflib.get_close_matches(token, sorted(_SYNONYMS), n=1, cutoff=0.75)
        if word and _SYNONYMS[word[0]] in metrics:
            return _SYNONYMS[word[0]]
    close = difflib.get_close_matches(name, sorted(metrics), n=1, cutoff=0.4)
    return close[0] if close else None


def _conditions(path: tuple[str | int, ...], level: str, conditions: Any) -> Iterator[Found]:
    if not isinstance(conditions, dict):
        return
    metrics = METRICS_BY_LEVEL.get(level, METRICS_BY_LEVEL["lot"])
    for metric, condition in conditions.items():
        where = (*path, str(metric))
        kind = metrics.get(str(metric))
        if kind is None:
            other = "lot" if level == "sku" else "sku"
            if str(metric) in METRICS_BY_LEVEL[other] and other == "lot":
                yield where, f"'{metric}' is a lot metric; this rule has level: sku", True
                continue
            hint = suggest_metric(str(metric), metrics)
            yield where, f"unknown metric '{metric}'" + (f" (did you mean '{hint}'?)" if hint else ""), True
            continue
        yield from _condition(where, str(metric), kind, condition)


def _scope(path: tuple[str | int, ...], scope: Any, known: dict[str, set[str]]) -> Iterator[Found]:
    if not isinstance(scope, dict):
        return
    for key, values in scope.items():
        if key not in SCOPE_KEYS or not isinstance(values, list):
            continue
        if not values:
            yield (*path, key), f"an empty {key} list can never match; leave {key} out to match every {key}", False
            continue
        universe = known.get(key)
        if not universe:
            continue
        for index, value in enumerate(values):
            if str(value) not in universe:
                hint = difflib.get_close_matches(str(value), sorted(universe), n=1)
                yield ((*path, key, index), f"no {key} '{value}' in the data, so this never matches"
                       + (f" (did you mean '{hint[0]}'?)" if hint else ""), False)


def check_meaning(data: dict[str, Any], known: dict[str, set[str]]) -> Iterator[Found]:
    """Problems of meaning; `known` maps scope keys (category, site, ...) to the values the data has."""
    rules = data.get("rules")
    seen_ids: dict[str, int] = {}
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        path: tuple[str | int, ...] = ("rules", index)
        rule_id = rule.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen_ids:
                yield (*path, "id"), f"duplicate rule id '{rule_id}' (also rules[{seen_ids[rule_id]}])", False
            seen_ids.setdefault(rule_id, index)
        level = rule.get("level", "lot")
        level = level if isinstance(level, str) and level in METRICS_BY_LEVEL else "lot"
        yield from _conditions((*path, "when"), level, rule.get("when"))
        groups = rule.get("any")
        for group_index, group in enumerate(groups if isinstance(groups, list) else []):
            yield from _conditions((*path, "any", group_index), level, group)
        if not rule.get("when") and not groups:
            yield (*path, "when"), "a rule needs at least one condition in when or any", True
        yield from _scope((*path, "scope"), rule.get("scope"), known)
    owners = data.get("owners")
    owners = owners if isinstance(owners, list) else []
    for index, owner in enumerate(owners):
        if isinstance(owner, dict):
            yield from _scope(("owners", index, "scope"), owner.get("scope"), known)
    if owners and not any(isinstance(o, dict) and not o.get("scope") for o in owners):
        yield ("owners",), "no owner has an empty scope ({}), so some stock would have nobody to own its case", True
    yield from _approvals(data)


def _approvals(data: dict[str, Any]) -> Iterator[Found]:
    """An approval nobody may give would leave every such case waiting for ever."""
    approvals = data.get("approvals")
    for disposition, approval in (approvals.items() if isinstance(approvals, dict) else []):
        if not isinstance(approval, dict):
            continue
        if approval.get("qa_signoff") is True and not data.get("qa"):
            yield (("approvals", disposition, "qa_signoff"),
                   f"{disposition} needs QA sign-off but the policy names nobody under qa", False)
        if approval.get("committee_over_value") is not None and not data.get("committee"):
            yield (("approvals", disposition, "committee_over_value"),
                   f"{disposition} over this value needs the committee but the policy names no committee", False)
