"""The durable-rules evaluation: every operator, any-groups, levels, scopes, several rules on one subject."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from inventory.metrics import LotFact, SkuSiteFact, SkuSiteFacts
from rules.engine import Evaluator, Finding
from rules.loader import parse_policy

AS_OF = date(2026, 11, 25)

HEAD = """\
policy: t
version: 1
owners: [{scope: {}, owner: o@example.com}]
rules:
"""


def rule(rule_id: str, body: str, level: str = "lot", scope: str = "{}") -> str:
    return f"""\
  - id: {rule_id}
    title: {{en: {rule_id}, zh-CN: 规则}}
    level: {level}
    scope: {scope}
{body}
    severity: medium
    sla: {{acknowledge: 3d, resolve: 30d}}
    dispositions: [scrap]
"""


def lot(name: str, **changes: object) -> LotFact:
    base = LotFact(sku="HIP-1", site="SH01", lot=name, serial="", category="implant", risk_class="III",
                   lifecycle="active", storage="ambient", qc_status="released", currency="CNY", qty=Decimal(2),
                   unit_cost=Decimal(5000), value=Decimal(10000), received_on=date(2026, 1, 1),
                   expires_on=date(2027, 1, 1), last_moved_on=date(2026, 1, 1), days_in_stock=328,
                   days_since_movement=200, days_to_expiry=37, shelf_life_left_pct=10.0,
                   projected_expiry_qty=Decimal(1), projected_expiry_value=Decimal(5000))
    return replace(base, **changes)  # type: ignore[arg-type]


def sku_site(lots: list[LotFact], **changes: object) -> SkuSiteFacts:
    first = lots[0]
    fact = SkuSiteFact(sku=first.sku, site=first.site, category=first.category, risk_class=first.risk_class,
                       lifecycle=first.lifecycle, storage=first.storage, currency="CNY", unit_cost=first.unit_cost,
                       lot_count=len(lots), on_hand=sum((f.qty for f in lots), Decimal(0)),
                       on_hand_value=sum((f.value for f in lots), Decimal(0)), issued_365d=Decimal(3),
                       avg_daily_demand=3 / 365, days_of_cover=243.33, days_since_last_issue=40, turnover_365d=0.75,
                       open_po_qty=Decimal(0), projected_expiry_qty=Decimal(0), projected_expiry_value=Decimal(0))
    return SkuSiteFacts(replace(fact, **changes), lots)  # type: ignore[arg-type]


def evaluate(rules: str, groups: list[SkuSiteFacts]) -> list[Finding]:
    return list(Evaluator(parse_policy(HEAD + rules, "t.yaml")).evaluate(groups, chunk=3))


def fired(condition: str, facts: list[LotFact]) -> set[str]:
    findings = evaluate(rule("r", f"    when:\n      {condition}"), [sku_site(facts)])
    return {f.lot for f in findings}


LOTS = [lot("a", days_since_movement=100, value=Decimal(500)), lot("b", days_since_movement=180),
        lot("c", days_since_movement=365, expires_on=None, days_to_expiry=None, qc_status="hold")]


@pytest.mark.parametrize("condition, expected", [
    ("days_since_movement: {gt: 180}", {"c"}),
    ("days_since_movement: {gte: 180}", {"b", "c"}),
    ("days_since_movement: {lt: 180}", {"a"}),
    ("days_since_movement: {lte: 180}", {"a", "b"}),
    ("days_since_movement: {eq: 180}", {"b"}),
    ("days_since_movement: {ne: 180}", {"a", "c"}),
    ("days_since_movement: {gte: 26w}", {"c"}),  # 182 days
    ("days_since_movement: {between: [100, 180]}", {"a", "b"}),
    ("days_since_movement: {gt: 100, lt: 365}", {"b"}),
    ("qc_status: {in: [hold, quarantine]}", {"c"}),
    ("qc_status: {not_in: [hold, quarantine]}", {"a", "b"}),
    ("qc_status: {eq: released}", {"a", "b"}),
    ("days_to_expiry: {is_null: true}", {"c"}),
    ("days_to_expiry: {is_null: false}", {"a", "b"}),
    ("days_to_expiry: {lte: 90}", {"a", "b"}),  # a null never satisfies a comparison
    ("value: {gte: 10000}", {"b", "c"}),
    ("expires_on: {lt: '2027-06-01'}", {"a", "b"}),
    ("days_of_cover: {gt: 200}", {"a", "b", "c"}),  # a lot rule sees its SKU-site's facts too
])
def test_each_operator(condition: str, expected: set[str]) -> None:
    assert fired(condition, LOTS) == expected


def test_any_needs_one_group_and_the_reasons_name_the_groups_that_held() -> None:
    body = """\
    when:
      days_since_movement: {gte: 100}
    any:
      - {days_to_expiry: {lte: 40}}
      - {qc_status: {in: [hold]}}
      - {value: {gte: 10000}}"""
    findings = {f.lot: f for f in evaluate(rule("r", body), [sku_site([*LOTS, lot("d", days_to_expiry=400, value=Decimal(1))])])}
    assert set(findings) == {"a", "b", "c"}
    assert [(r["metric"], r["operator"], r["threshold"], r["value"]) for r in findings["a"].reasons] == [
        ("days_since_movement", "gte", 100, 100), ("days_to_expiry", "lte", 40, 37)]
    assert [r["metric"] for r in findings["b"].reasons] == ["days_since_movement", "days_to_expiry", "value"]
    assert [r["metric"] for r in findings["c"].reasons] == ["days_since_movement", "qc_status", "value"]
    assert findings["b"].metrics == {"days_since_movement": 180, "days_to_expiry": 37, "value": 10000}


def test_sku_level_rules_fire_once_per_sku_site_and_scopes_select_the_stock() -> None:
    rules = (rule("slow", "    when:\n      turnover_365d: {lt: 1}", level="sku")
             + rule("idle-implants", "    when:\n      days_since_movement: {gte: 180}", scope="{category: [implant], site: [SH01]}")
             + rule("idle-any", "    when:\n      days_since_movement: {gte: 180}"))
    stent = [lot("s1", sku="STE-1", category="stent"), lot("s2", sku="STE-1", category="stent")]
    other_site = [lot("x", site="BJ02")]
    findings = evaluate(rules, [sku_site(LOTS), sku_site(stent, sku="STE-1", category="stent"),
                                sku_site(other_site, site="BJ02", turnover_365d=2.0)])
    keys = sorted((f.rule, f.sku, f.site, f.lot) for f in findings)
    assert keys == [
        ("idle-any", "HIP-1", "BJ02", "x"), ("idle-any", "HIP-1", "SH01", "b"), ("idle-any", "HIP-1", "SH01", "c"),
        ("idle-any", "STE-1", "SH01", "s1"), ("idle-any", "STE-1", "SH01", "s2"),
        ("idle-implants", "HIP-1", "SH01", "b"), ("idle-implants", "HIP-1", "SH01", "c"),
        ("slow", "HIP-1", "SH01", ""), ("slow", "STE-1", "SH01", ""),
    ]
    slow = next(f for f in findings if f.rule == "slow" and f.sku == "HIP-1")
    assert (slow.level, slow.serial, slow.value) == ("sku", "", Decimal(20500))
    assert slow.metrics == {"turnover_365d": 0.75, "on_hand_value": 20500}
    assert slow.title == {"en": "slow", "zh-CN": "规则"}


def test_memory_is_given_back_between_chunks_the_same_fact_can_be_evaluated_again() -> None:
    """Facts are retracted after each chunk: evaluating the same subjects twice gives the same findings
    (an unretracted identical fact would be refused by durable-rules as already observed)."""
    rules = rule("idle", "    when:\n      days_since_movement: {gte: 180}")
    groups = [sku_site([lot(f"l{i}", days_since_movement=170 + i) for i in range(20)])]
    first = evaluate(rules, groups)
    assert [f.key for f in evaluate(rules, groups)] == [f.key for f in first]
    assert len(first) == 10


def test_days_thresholds_in_weeks_and_dates_compare_as_days() -> None:
    expiring = [lot("soon", expires_on=AS_OF + timedelta(days=10), days_to_expiry=10),
                lot("later", expires_on=AS_OF + timedelta(days=100), days_to_expiry=100)]
    assert fired("days_to_expiry: {lte: 2w}", expiring) == {"soon"}
    assert fired("expires_on: {lte: '2026-12-31'}", expiring) == {"soon"}


def test_a_chunk_that_no_rule_matches_does_not_crash_the_process() -> None:
    """durable-rules segfaults when asked to delete a session that no fact matched (found by the policy
    preview page: a strict draft matched nothing). Run in a child process, so a crash is a failure here
    and not the end of the test run."""
    import subprocess
    import sys

    program = """
from tests.test_engine import LOTS, evaluate, rule, sku_site
never = rule("never", "    when:\\n      days_since_movement: {gt: 100000}")
assert evaluate(never, [sku_site(LOTS)]) == []
sometimes = rule("sometimes", "    when:\\n      days_since_movement: {gt: 300}")
assert [f.lot for f in evaluate(sometimes, [sku_site(LOTS), sku_site([LOTS[0]])])] == ["c"]
print("survived")
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]


def test_the_rule_host_starts_no_polling_threads() -> None:
    """durable-rules' Host polls for deferred actions and timers on two threads of its own; ours has
    neither, and a poll could run an action of a chunk in flight beside the evaluator's lock."""
    import threading

    from rules.engine import _RuleHost

    before = threading.active_count()
    _RuleHost()
    assert threading.active_count() == before


def test_a_fired_rule_leaves_no_garbage_for_the_cyclic_collector() -> None:
    """durable-rules' own action wrapper leaves a reference cycle per fired rule; the evaluator's action
    (rules.engine._Record) leaves none, so reference counting frees each action as it ends."""
    import gc

    rules = rule("idle", "    when:\n      days_since_movement: {gte: 180}")
    evaluator = Evaluator(parse_policy(HEAD + rules, "t.yaml"))
    facts = [{"id": f"f{i}", "level": "lot", "days_since_movement": 170 + i} for i in range(20)]
    gc.collect()
    gc.disable()
    try:
        assert len(evaluator.fire(facts)) == 10
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_the_garbage_collector_is_paused_only_while_evaluating_and_the_engines_cycles_are_collected() -> None:
    """evaluate() turns Python's automatic collector off and collects each chunk itself (rules.engine
    collected_per_chunk): afterwards the collector is as it was and no cyclic garbage is left for
    later, even when the caller stops reading early."""
    import gc

    rules = rule("idle", "    when:\n      days_since_movement: {gte: 180}")
    groups = [sku_site([lot(f"l{i}", days_since_movement=170 + i) for i in range(20)])]
    evaluator = Evaluator(parse_policy(HEAD + rules, "t.yaml"))
    gc.collect()
    findings = evaluator.evaluate(groups, chunk=3)
    next(findings)
    assert not gc.isenabled()
    assert len(list(findings)) == 9
    assert gc.isenabled() and gc.collect() == 0
    abandoned = evaluator.evaluate(groups, chunk=3)
    next(abandoned)
    del abandoned  # closes the generator
    assert gc.isenabled() and gc.collect() == 0
    gc.disable()
    try:
        assert len(list(evaluator.evaluate(groups, chunk=3))) == 10
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()
