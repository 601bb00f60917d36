"""Rules that can fire on the same lot and what they leave its line free to do: the warnings of `policy check`.

A lot line may take the dispositions that every lot rule that fired on it allows; where they share none,
only the governing rule's (the most severe, policy order breaking ties) apply, so the other rule's limits
silently stop counting. Whatever the policy says, stock in quarantine, on hold, rejected or expired is never
reallocated, substituted or sold, and orders are cut on purchase-order lines, never on a lot: a rule, or a
pair of rules, whose every disposition is one of those leaves such a lot with nothing to do. These are
warnings, not errors: the policy is consistent, it may only be other than its author meant.

Two rules can fire on the same lot unless their scopes, or their conditions on a metric they share, cannot
both hold: a scope key or word metric given in both with no word in common, a number or date range
(gt, gte, lt, lte, eq, between, the ends of an in list) that does not meet the other's, or is_null against
any other test. Every `any` group is taken with its rule's `when` as one way the rule can fire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from core.case import NEVER_FOR_UNUSABLE, UNUSABLE_QC
from rules.checks import threshold_value
from rules.loader import render_path
from rules.policy import Condition, Policy, Rule
from rules.vocabulary import LOT_METRICS, Disposition, Kind, Level, Severity

NOT_ON_A_LOT = frozenset({Disposition.REDUCE_PURCHASE_ORDER})
"""Orders are cut on purchase-order lines, which only SKU rules open; a lot line never offers it."""
_SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@dataclass(frozen=True)
class PolicyWarning:
    """Printed as `policies/x.yaml:21:5: warning: rules[1]: <en> / 警告：<zh-CN>`; the policy stays valid."""

    file: str
    line: int
    column: int
    path: str
    en: str
    zh_cn: str

    def text(self, language: str) -> str:
        return self.zh_cn if language == "zh-CN" else self.en

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: warning: {self.path}: {self.en} / 警告：{self.zh_cn}"


@dataclass(frozen=True)
class _Span:
    """What one way of firing asks of one metric: a range of numbers (dates as day numbers), a set of words,
    whether the metric must be null. A metric without a value satisfies only is_null: true."""

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    words: frozenset[str] | None = None
    """None: any word."""
    not_words: frozenset[str] = frozenset()
    null: bool | None = None
    contradiction: bool = False

    def both(self, other: _Span) -> _Span:
        """What holds when this span and `other` hold at once."""
        low, low_open = _tighter(self.low, self.low_open, other.low, other.low_open, lower=True)
        high, high_open = _tighter(self.high, self.high_open, other.high, other.high_open, lower=False)
        words = other.words if self.words is None else self.words if other.words is None else self.words & other.words
        clash = self.null is not None and other.null is not None and self.null != other.null
        return _Span(low, low_open, high, high_open, words, self.not_words | other.not_words,
                     self.null if self.null is not None else other.null, self.contradiction or other.contradiction or clash)

    def empty(self) -> bool:
        if self.contradiction:
            return True
        if self.low is not None and self.high is not None:
            if self.low > self.high or (self.low == self.high and (self.low_open or self.high_open)):
                return True
        return self.words is not None and not (self.words - self.not_words)

    def below_zero(self) -> bool:
        """Every value this span lets through is negative."""
        return self.high is not None and (self.high < 0 or (self.high == 0 and self.high_open))


def _tighter(a: float | None, a_open: bool, b: float | None, b_open: bool, *, lower: bool) -> tuple[float | None, bool]:
    """The stricter of two lower (or upper) ends; at the same value an open end is the stricter."""
    if a is None:
        return b, b_open
    if b is None:
        return a, a_open
    if a == b:
        return a, a_open or b_open
    return (a, a_open) if (a > b) == lower else (b, b_open)


def _span(kind: Kind, condition: Condition) -> _Span:
    """One condition as a span; a value that does not convert (never so in a checked policy) asks nothing."""
    span = _Span()
    for operator, value in condition.operators().items():
        if operator == "is_null":
            span = span.both(_Span(null=bool(value)))
            continue
        span = span.both(_Span(null=False))
        try:
            if kind is Kind.TEXT:
                span = span.both(_word_span(operator, value))
            else:
                span = span.both(_number_span(kind, operator, value))
        except (ValueError, TypeError):
            continue
    return span


def _word_span(operator: str, value: Any) -> _Span:
    words = frozenset(str(v) for v in (value if isinstance(value, list) else [value]))
    if operator in ("eq", "in"):
        return _Span(words=words)
    if operator in ("ne", "not_in"):
        return _Span(not_words=words)
    return _Span()


def _number_span(kind: Kind, operator: str, value: Any) -> _Span:
    if operator in ("gt", "gte"):
        return _Span(low=float(threshold_value(kind, value)), low_open=operator == "gt")
    if operator in ("lt", "lte"):
        return _Span(high=float(threshold_value(kind, value)), high_open=operator == "lt")
    if operator in ("eq", "between", "in"):
        values = [float(threshold_value(kind, v)) for v in (value if isinstance(value, list) else [value])]
        return _Span(low=min(values), high=max(values)) if values else _Span(contradiction=True)
    return _Span()  # ne and not_in leave a range open on both sides


Way = dict[str, _Span]
"""One way a rule can fire: what its scope, its when and one of its any groups ask of each metric."""


def _add(way: Way, metric: str, span: _Span) -> None:
    way[metric] = way[metric].both(span) if metric in way else span


def ways_to_fire(rule: Rule) -> list[Way]:
    """The rule's scope and when, with each of its any groups in turn (or alone when it has none); a way
    that asks the impossible of a metric (released and quarantined at once) is none."""
    common: Way = {}
    for key, values in rule.scope.items().items():
        _add(common, key, _Span(words=frozenset(values), null=False))
    for metric, condition in rule.when.items():
        _add(common, metric, _span(LOT_METRICS.get(metric, Kind.QUANTITY), condition))
    ways = []
    for group in rule.any or [{}]:
        way = dict(common)
        for metric, condition in group.items():
            _add(way, metric, _span(LOT_METRICS.get(metric, Kind.QUANTITY), condition))
        if not any(span.empty() for span in way.values()):
            ways.append(way)
    return ways


def together(a: Way, b: Way) -> Way | None:
    """What holds on a lot both ways fire on, or None where no lot can."""
    way = dict(a)
    for metric, span in b.items():
        _add(way, metric, span)
    return None if any(span.empty() for span in way.values()) else way


def unusable(way: Way) -> bool:
    """Every lot this way fires on is quarantined, held, rejected or expired (days_to_expiry or
    shelf_life_left_pct below 0), so the guard applies to all of them. A date (expires_on) is not judged:
    the snapshot date it would be compared with is not in the policy."""
    qc = way.get("qc_status")
    if qc is not None and qc.words is not None and qc.words - qc.not_words <= UNUSABLE_QC:
        return True
    return any(metric in way and way[metric].below_zero() for metric in ("days_to_expiry", "shelf_life_left_pct"))


def governing(rules: Iterable[tuple[int, Rule]]) -> tuple[int, Rule]:
    """The most severe of (policy position, rule) pairs; the earlier in the policy where equally severe."""
    return min(rules, key=lambda pair: (_SEVERITY_ORDER.index(pair[1].severity), pair[0]))


def lot_dispositions(fired: list[Rule], governing_rule: Rule, *, guarded: bool) -> list[Disposition]:
    """What a lot line offers when `fired` fired on it: what they all allow, else the governing rule's; never
    a purchase-order cut; for guarded stock never a use (governance/opening.py decides lines the same way)."""
    allowed = [d for d in fired[0].dispositions if all(d in rule.dispositions for rule in fired[1:])]
    allowed = allowed or list(governing_rule.dispositions)
    return [d for d in allowed if d not in NOT_ON_A_LOT and not (guarded and d in NEVER_FOR_UNUSABLE)]


PolicyPath = tuple[str | int, ...]
LineOf = Callable[[PolicyPath], int]


@dataclass(frozen=True)
class Said:
    """A warning before it is placed: where it stands (a policy path) and what it says, in en and zh-CN."""

    path: PolicyPath
    en: str
    zh_cn: str


def _names(dispositions: Iterable[Disposition]) -> str:
    return ", ".join(d.value for d in dispositions) or "-"


def _why_none(dispositions: Iterable[Disposition], *, guarded: bool) -> tuple[str, str]:
    """Why none of `dispositions` can be offered on a lot line, in en and zh-CN."""
    en, zh = [], []
    if guarded and set(dispositions) & NEVER_FOR_UNUSABLE:
        en.append("quarantined, held, rejected or expired stock is never reallocated, substituted or sold")
        zh.append("隔离、冻结、拒收或过期库存不得调拨、替代或出售/捐赠")
    if set(dispositions) & NOT_ON_A_LOT:
        en.append("orders are cut on purchase-order lines, never on a lot")
        zh.append("采购订单只能在订单行上削减，不能作用于批次")
    return "; ".join(en), "；".join(zh)


def _alone(index: int, rule: Rule) -> Said | None:
    """A rule whose lots, on some way it fires, could take none of its dispositions."""
    for way in ways_to_fire(rule):
        guarded = unusable(way)
        if not lot_dispositions([rule], rule, guarded=guarded):
            why_en, why_zh = _why_none(rule.dispositions, guarded=guarded)
            names = _names(rule.dispositions)
            return Said(("rules", index, "dispositions"),
                        f"every disposition of '{rule.id}' ({names}) is closed to the lots it covers ({why_en}), "
                        "so they would be left with no disposition; allow return_to_supplier or scrap too",
                        f"规则 '{rule.id}' 的全部处置（{names}）对其覆盖的批次均不可用（{why_zh}），"
                        "这些批次将没有任何可用处置；请同时允许 return_to_supplier 或 scrap")
    return None


def _pair(first: tuple[int, Rule], second: tuple[int, Rule], line_of: LineOf, *, quiet: bool) -> Said | None:
    """Two lot rules that can fire on one lot and leave it less than both allow; `quiet` when either has a
    warning of its own that already explains an empty line."""
    (i, a), (j, b) = first, second
    overlaps = [both for x in ways_to_fire(a) for y in ways_to_fire(b) if (both := together(x, y)) is not None]
    if not overlaps:
        return None
    _, ruling = governing([first, second])
    empty_where = {unusable(way) for way in overlaps if not lot_dispositions([a, b], ruling, guarded=unusable(way))}
    common = [d for d in a.dispositions if d in b.dispositions]
    head_en = (f"'{b.id}' ({_names(b.dispositions)}) and '{a.id}' (line {line_of(('rules', i))}: "
               f"{_names(a.dispositions)}) can fire on the same lot")
    head_zh = (f"规则 '{b.id}'（{_names(b.dispositions)}）与 '{a.id}'（第 {line_of(('rules', i))} 行："
               f"{_names(a.dispositions)}）可能作用于同一批次")
    if not common:
        why_en, why_zh = ("more severe", "更严重") if a.severity != b.severity else ("earlier in the policy", "在策略中靠前")
        tail_en = ", which leaves such a lot no disposition at all" if empty_where else ""
        tail_zh = "，这样的批次将没有任何可用处置" if empty_where else ""
        return Said(("rules", j),
                    f"{head_en} with no disposition in common: there only the governing '{ruling.id}' ({why_en}) "
                    f"applies: {_names(ruling.dispositions)}{tail_en}",
                    f"{head_zh}，但两者没有共同的处置方式：此时只适用主导规则 '{ruling.id}'（{why_zh}）的处置："
                    f"{_names(ruling.dispositions)}{tail_zh}")
    if quiet or not empty_where:
        return None
    why_en, why_zh = _why_none(common, guarded=True in empty_where)
    return Said(("rules", j),
                f"{head_en} and share only {_names(common)}, which such a lot can never take ({why_en}): "
                "it would be left with no disposition",
                f"{head_zh}，两者仅共有 {_names(common)}，而这样的批次不能采用（{why_zh}），将没有任何可用处置")


def check_dispositions(policy: Policy, line_of: LineOf) -> Iterator[Said]:
    """Every warning of the policy: rules alone first, then pairs in the order of their second rule.
    `line_of` tells the line a policy path stands on, for the messages that name another rule's line."""
    lot_rules = [(index, rule) for index, rule in enumerate(policy.rules) if rule.level is Level.LOT]
    alone = {index: said for index, rule in lot_rules if (said := _alone(index, rule)) is not None}
    yield from alone.values()
    for n, second in enumerate(lot_rules):
        for first in lot_rules[:n]:
            said = _pair(first, second, line_of, quiet=first[0] in alone or second[0] in alone)
            if said is not None:
                yield said


def _mark(node: yaml.Node | None, path: tuple[str | int, ...]) -> tuple[int, int]:
    """Line and column (1-based) of the value at `path`, or of the nearest ancestor the document has."""
    line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
    return line, column


def policy_warnings(policy: Policy, text: str, label: str) -> list[PolicyWarning]:
    """The warnings of a checked policy (`text` is what it was parsed from, `label` names it), each placed at
    its line and column as the policy's problems are; an empty list when nothing calls for one."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    placed = [PolicyWarning(label, *_mark(root, said.path), render_path(said.path), said.en, said.zh_cn)
              for said in check_dispositions(policy, lambda path: _mark(root, path)[0])]
    return sorted(placed, key=lambda warning: (warning.line, warning.column))
