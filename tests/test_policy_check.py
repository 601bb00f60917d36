"""Policy problems a compliance officer can act on: file, line, column, path, message; never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.compiler import compile_policy
from rules.loader import PolicyInvalid, load_policy, parse_policy
from rules.overlaps import PolicyWarning, policy_warnings
from rules.schema import policy_json_schema, policy_json_schema_text
from tests.support.data import GOOD_POLICY as GOOD

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"


def problems(text: str, known: dict[str, set[str]] | None = None) -> list[str]:
    with pytest.raises(PolicyInvalid) as failure:
        parse_policy(text, "policies/x.yaml", known=known)
    return [str(p) for p in failure.value.problems]


def test_the_shipped_default_policy_is_valid_and_matches_its_schema() -> None:
    policy, _ = load_policy(DEFAULT, known={"category": {"implant", "stent", "catheter", "ivd_reagent", "consumable",
                                                         "spare_part"}})
    assert policy.policy == "default" and len(policy.rules) >= 8
    jsonschema.validate(yaml.safe_load(DEFAULT.read_text(encoding="utf-8")), policy_json_schema())


def test_the_committed_schema_is_in_step_with_the_model() -> None:
    assert (ROOT / "policies" / "schema.json").read_text(encoding="utf-8") == policy_json_schema_text(), (
        "run `stockwarden policy schema` and commit policies/schema.json")


def test_a_good_policy_parses() -> None:
    policy = parse_policy(GOOD, "x.yaml")
    assert policy.rules[0].sla.acknowledge.days == 3
    assert policy.owner_for({"category": "implant"}).owner == "zhang.wei@example.com"  # type: ignore[union-attr]
    assert policy.owner_for({"category": "stent"}).owner == "inventory@example.com"  # type: ignore[union-attr]


def test_unknown_metric_is_placed_at_its_key_with_a_suggestion() -> None:
    text = GOOD.replace("      days_since_movement: {gte: 180d}", "      dwel_days: {gte: 180d}")
    assert problems(text) == [
        "policies/x.yaml:16:7: rules[0].when.dwel_days: unknown metric 'dwel_days' (did you mean 'days_since_movement'?)"
    ]


def test_yaml_syntax_error_has_line_and_column() -> None:
    text = GOOD.replace("    severity: high", "    severity: [high")
    (problem,) = problems(text)
    assert problem.startswith("policies/x.yaml:19:") and "YAML syntax" in problem


@pytest.mark.parametrize("change, expected", [
    (("    severity: high", "    severity: high\n    owner: me@example.com"),
     "policies/x.yaml:19:5: rules[0].owner: unknown key 'owner'"),
    (("  - id: idle", "  - idd: idle"), "policies/x.yaml:11:5: rules[0].idd: unknown key 'idd' (did you mean 'id'?)"),
    (("version: 1", "version: one"),
     "policies/x.yaml:2:10: version: Input should be a valid integer, unable to parse string as an integer (got 'one')"),
    (("{gte: 5000}", "{gtee: 5000}"),
     "policies/x.yaml:17:15: rules[0].when.value.gtee: unknown operator 'gtee' (did you mean 'gte'?)"),
    (("{gte: 5000}", "{gte: 30d}"),
     "policies/x.yaml:17:20: rules[0].when.value.gte: '30d' is in the wrong unit: this metric is money "
     "(a plain amount in the SKU's currency)"),
    (("{gte: 180d}", "{gte: 6m}"),
     "policies/x.yaml:16:34: rules[0].when.days_since_movement.gte: '6m' is not a number of days or a duration "
     "such as 30d or 12w"),
    (("    owner: zhang.wei@example.com", "    owner: zhang.wei"),
     "policies/x.yaml:5:12: owners[0].owner: 'zhang.wei' is not an email address"),
    (("[li.na@example.com, committee]", "[li.na@example.com, board]"),
     "policies/x.yaml:6:37: owners[0].escalation[1]: 'board' is not an email address"),
    (("    scope: {category: [implant]}\n    when", "    scope: {category: []}\n    when"),
     "policies/x.yaml:14:23: rules[0].scope.category: an empty category list can never match; leave category "
     "out to match every category"),
    (("dispositions: [reallocate, scrap]", "dispositions: [reallocate, burn]"),
     "policies/x.yaml:20:32: rules[0].dispositions[1]: Input should be 'reallocate', 'substitute', "
     "'return_to_supplier', 'reduce_purchase_order', 'sell_or_donate' or 'scrap' (got 'burn')"),
    (("sla: {acknowledge: 3d, resolve: 30d}", "sla: {acknowledge: soon, resolve: 30d}"),
     "policies/x.yaml:19:24: rules[0].sla.acknowledge: 'soon' is not a duration (write days or weeks, such as 3d "
     "or 12w)"),
    (("      value: {gte: 5000}", "      value: {between: [9000, 5000]}"),
     "policies/x.yaml:17:24: rules[0].when.value.between: between [9000, 5000] is empty: the low end is above "
     "the high end"),
    (("      value: {gte: 5000}", "      category: {gt: 5}"),
     "policies/x.yaml:17:18: rules[0].when.category.gt: 'gt' does not apply to the text metric 'category' "
     "(use eq, ne, in, not_in, is_null)"),
    (("    level: lot", "    level: sku"),
     "policies/x.yaml:16:7: rules[0].when.days_since_movement: 'days_since_movement' is a lot metric; this rule "
     "has level: sku"),
    (("committee: [a@example.com]\n", "committee: [a@example.com]\napprovals:\n  scrap: {qa_signoff: true}\n"),
     "policies/x.yaml:11:23: approvals.scrap.qa_signoff: scrap needs QA sign-off but the policy names nobody "
     "under qa"),
    (("committee: [a@example.com]\n", "approvals:\n  scrap: {committee_over_value: 1000}\n"),
     "policies/x.yaml:10:33: approvals.scrap.committee_over_value: scrap over this value needs the committee "
     "but the policy names no committee"),
])
def test_each_class_of_problem_is_named_where_it_stands(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert expected in found, found


def test_duplicate_rule_ids_and_keys() -> None:
    rule = GOOD[GOOD.index("  - id: idle"):]
    found = problems(GOOD + rule.replace("level: lot", "level: lot\n    level: sku"))
    assert "policies/x.yaml:21:9: rules[1].id: duplicate rule id 'idle' (also rules[0])" in found
    assert "policies/x.yaml:24:5: rules[1].level: duplicate key 'level' (a later one would silently win)" in found


def test_scopes_that_match_no_known_category_or_site() -> None:
    text = GOOD.replace("scope: {category: [implant]}\n    when", "scope: {category: [implnat], site: [SH01]}\n    when")
    found = problems(text, known={"category": {"implant", "stent"}, "site": {"SH01"}})
    assert found == ["policies/x.yaml:14:24: rules[0].scope.category[0]: no category 'implnat' in the data, so "
                     "this never matches (did you mean 'implant'?)"]


def test_owners_need_a_catch_all_and_every_problem_is_listed_at_once() -> None:
    text = GOOD.replace("  - scope: {}\n    owner: inventory@example.com\n", "").replace("version: 1", "version: 0")
    found = problems(text.replace("{gte: 5000}", "{gtee: 5000}"))
    assert len(found) == 3
    assert found[0].startswith("policies/x.yaml:2:10: version: Input should be greater than or equal to 1")
    assert found[1].startswith("policies/x.yaml:3:1: owners: no owner has an empty scope")
    assert "unknown operator 'gtee'" in found[2]


_PIECES = st.sampled_from([
    "", "{", "}", "[", "]", ":", "- ", "  ", "\n", "\t", "'", '"', "&a", "*a", "!!python/object:os.system", "%TAG",
    "gtee", "dwel_days", "null", "~", "-1", "1e999", "3d", "12w", "implant", "committee", "[1, 2, 3]", "{in: 5}",
    "between: [1]", "is_null: maybe", "in: []", "level: [lot]", "{gte: {a: 1}}", "@", "é", "呆滞", "\x00", "?", ">", "|", "#", "---", "...",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0, max_value=len(GOOD)), cut=st.integers(min_value=0, max_value=40),
       insert=st.lists(_PIECES, max_size=4).map("".join))
def test_mutated_policies_never_raise_anything_but_policy_problems(position: int, cut: int, insert: str) -> None:
    """Any edit of a good policy either parses or yields PolicyInvalid with placed problems, never a crash."""
    text = GOOD[:position] + insert + GOOD[position + cut:]
    try:
        policy = parse_policy(text, "policies/x.yaml", known={"category": {"implant"}})
    except PolicyInvalid as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message
    else:
        assert compile_policy(policy).ruleset  # whatever parses must also compile


def test_policy_check_command_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("days_since_movement:", "dwel_days:"), encoding="utf-8")
    env_var = {"STOCKWARDEN_VAR_DIR": str(tmp_path / "var")}
    run = lambda *paths: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "stockwarden.cli", "policy", "check", *map(str, paths)], capture_output=True,
        text=True, env={**__import__("os").environ, **env_var}, cwd=tmp_path, timeout=120)
    good = run(DEFAULT)
    assert good.returncode == 0 and "is valid" in good.stdout
    failed = run(DEFAULT, bad)
    assert failed.returncode == 1
    assert f"{bad}:16:7: rules[0].when.dwel_days: unknown metric 'dwel_days'" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert json.loads((ROOT / "policies" / "schema.json").read_text())["title"].startswith("Stockwarden policy")


# Warnings: rules that can fire on one lot and leave it less than the policy means. The policy stays valid.

def _rule(rule_id: str, dispositions: str, *, scope: str = "{}", when: str = "days_in_stock: {gte: 365}",
          severity: str = "medium") -> str:
    return (f"  - id: {rule_id}\n    title: {{en: {rule_id}, zh-CN: 规则}}\n    scope: {scope}\n    when:\n"
            f"      {when}\n    severity: {severity}\n    sla: {{acknowledge: 3d, resolve: 30d}}\n"
            f"    dispositions: [{dispositions}]\n")


def warnings(text: str) -> list[PolicyWarning]:
    return policy_warnings(parse_policy(text, "policies/x.yaml"), text, "policies/x.yaml")


def test_two_rules_with_no_disposition_in_common_warn_at_the_second_rule() -> None:
    text = GOOD + _rule("slow", "return_to_supplier")  # GOOD's 'idle' (line 11, implants): reallocate, scrap
    (warning,) = warnings(text)
    assert (warning.line, warning.column, warning.path) == (21, 5, "rules[1]")
    assert str(warning).startswith(
        "policies/x.yaml:21:5: warning: rules[1]: 'slow' (return_to_supplier) and 'idle' (line 11: reallocate, "
        "scrap) can fire on the same lot with no disposition in common: there only the governing 'idle' (more "
        "severe) applies: reallocate, scrap / 警告：")
    assert "规则 'slow'（return_to_supplier）与 'idle'（第 11 行：reallocate, scrap）可能作用于同一批次" in warning.zh_cn
    assert warning.text("zh-CN") == warning.zh_cn and warning.text("en") == warning.en


@pytest.mark.parametrize("second", [
    _rule("reagents", "return_to_supplier", scope="{category: [ivd_reagent]}"),  # idle is scoped to implants
    _rule("recent", "return_to_supplier", when="days_since_movement: {lt: 90d}"),  # idle needs 180 days or more
    _rule("unpriced", "return_to_supplier", when="value: {is_null: true}"),  # idle needs a value of 5,000
    _rule("slow", "return_to_supplier, scrap"),  # scrap in common
])
def test_rules_that_cannot_meet_or_share_a_disposition_do_not_warn(second: str) -> None:
    assert warnings(GOOD + second) == []


def test_a_rule_whose_every_disposition_the_guard_forbids_warns() -> None:
    text = GOOD + _rule("quarantined-use", "reallocate", scope="{qc_status: [quarantine]}", severity="low")
    text += _rule("expired-sale", "sell_or_donate, substitute", when="days_to_expiry: {lt: 0}", severity="low")
    text += _rule("held", "reallocate, scrap", scope="{qc_status: [hold]}", severity="low")  # scrap is left
    found = [w for w in warnings(text) if w.path.endswith(".dispositions")]
    assert [str(w).split(" / ")[0] for w in found] == [
        "policies/x.yaml:28:19: warning: rules[1].dispositions: every disposition of 'quarantined-use' (reallocate) "
        "is closed to the lots it covers (quarantined, held, rejected or expired stock is never reallocated, "
        "substituted or sold), so they would be left with no disposition; allow return_to_supplier or scrap too",
        "policies/x.yaml:36:19: warning: rules[2].dispositions: every disposition of 'expired-sale' (sell_or_donate, "
        "substitute) is closed to the lots it covers (quarantined, held, rejected or expired stock is never "
        "reallocated, substituted or sold), so they would be left with no disposition; allow return_to_supplier or "
        "scrap too",
    ]
    assert "隔离、冻结、拒收或过期库存不得调拨、替代或出售/捐赠" in found[0].zh_cn


def test_two_rules_whose_only_common_disposition_the_guard_forbids_on_their_stock_warn() -> None:
    text = GOOD + _rule("quarantined", "reallocate, return_to_supplier", scope="{qc_status: [quarantine]}")
    (warning,) = warnings(text)
    assert str(warning).startswith(
        "policies/x.yaml:21:5: warning: rules[1]: 'quarantined' (reallocate, return_to_supplier) and 'idle' "
        "(line 11: reallocate, scrap) can fire on the same lot and share only reallocate, which such a lot can never "
        "take (quarantined, held, rejected or expired stock is never reallocated, substituted or sold)")


def test_the_default_policy_gets_no_warning() -> None:
    """Every lot rule of the default allows return_to_supplier, which the guard never forbids."""
    policy, text = load_policy(DEFAULT)
    assert policy_warnings(policy, text, str(DEFAULT)) == []


def test_policy_check_prints_warnings_and_the_policy_stays_valid(tmp_path: Path) -> None:
    warned = tmp_path / "warned.yaml"
    warned.write_text(GOOD + _rule("slow", "return_to_supplier"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "stockwarden.cli", "policy", "check", str(warned)], capture_output=True, text=True,
        env={**__import__("os").environ, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")}, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"{warned}:21:5: warning: rules[1]: 'slow' (return_to_supplier) and 'idle' (line 11: " in run.stderr
    assert "警告：规则 'slow'" in run.stderr
    assert "is valid (2 rules; 1 warning(s), it can still be activated)." in run.stdout
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("rule, expected", [
    (_rule("cut-orders", "reduce_purchase_order"),
     "is closed to the lots it covers (orders are cut on purchase-order lines, never on a lot)"),
    (_rule("never", "reallocate", scope="{qc_status: [released]}", when="qc_status: {eq: quarantine}"), None),
])
def test_a_lot_rule_that_only_cuts_orders_warns_and_one_that_never_fires_does_not(rule: str, expected: str | None) -> None:
    found = [w.en for w in warnings(GOOD + rule) if w.path.endswith(".dispositions")]
    if expected is None:
        assert found == []
    else:
        (only,) = found
        assert expected in only
