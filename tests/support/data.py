"""The data tests share, in one place: the export files of the small companies whose numbers are computed
by hand (the metrics company, the KPI company, the hip cups of the disposition tests), the policies they
run under, the people of the notification tests, the cases they open and the secrets tests sign with.
A test module that keeps data for itself alone keeps it; what two modules use lives here."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from core.case import Approval, CaseEvent, CaseInput, CaseLine, ProposalLine, Propose, from_json

TEST_SECRET = "tests-only-secret-key-not-for-production-5f1c9a"

MATERIALS = """\
sku,name,category,base_uom,unit_cost,currency,risk_class,lifecycle,storage,shelf_life_days,supplier,return_window_days,substitutes
HIP-1,髋臼杯 Acetabular cup 52,implant,ea,12000.50,CNY,III,phase_out,ambient,1825,Ortho Co,90,HIP-2
HIP-2,髋臼杯 Acetabular cup 52 v2,implant,ea,13000,CNY,III,active,ambient,1825,Ortho Co,90,
CAT-1,PTCA balloon catheter,catheter,ea,800,CNY,II,active,ambient,1095,Vasc Co,60,
"""


def write_export(folder: Path, **files: str) -> Path:
    """Write `<name>.csv` files from CSV text (dedented), materials included unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    files.setdefault("materials", MATERIALS)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


# The metrics company (docs/metrics.md): one SKU-site per story, computed by hand in tests/test_metrics.py.

AS_OF = date(2026, 11, 25)

LOT_HEADER = "sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi\n"

METRIC_LOTS = """\
sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi
CAT-1,SH01,A,,30,,2026-01-01,2025-12-01,2027-01-04,,released,
CAT-1,SH01,B,,2,box10,2026-06-01,,2026-12-25,,released,
CAT-1,SH01,C,,10,,2025-10-01,,2026-11-01,,released,
CAT-1,SH01,D,,5,,2026-03-01,,2027-03-01,,quarantine,
CAT-1,SH01,E,,4,,2026-02-01,,,,released,
HIP-1,SH01,L1,S1,1,,2024-11-25,2024-10-01,2029-10-01,2025-01-10,released,
HIP-1,BJ02,L1,S2,1,,2025-05-25,,,,released,
HIP-2,GZ03,X,,0,,2026-01-01,,,,released,
"""

METRIC_MOVEMENTS = """\
sku,site,lot,serial,type,qty,uom,moved_on,reference
CAT-1,SH01,A,,receipt,40,,2026-01-01,GRN-1
CAT-1,SH01,A,,issue,139,,2026-09-15,SO-1
CAT-1,SH01,A,X,receipt,1,,2026-11-24,other serial: must not touch lot A without serial
CAT-1,SH01,,,issue,1,box10,2025-11-25,exactly 365 days ago: outside the window
CAT-1,SH01,B,,issue,226,,2026-10-30,SO-2
CAT-1,SH01,C,,transfer_out,3,,2026-11-20,TO-1
CAT-1,BJ02,A,,issue,50,,2026-11-24,another site
HIP-1,SH01,L0,S9,issue,1,,2026-05-01,a serial already sold
"""

METRIC_CONVERSIONS = """\
sku,uom,factor
CAT-1,box10,10
"""

METRIC_ORDERS = """\
po,line,sku,site,qty_open,uom,ordered_on,promised_on,received_on,received_qty
P1,10,CAT-1,SH01,2,box10,2026-11-01,2026-12-01,,
P1,20,CAT-1,SH01,0,,2026-10-01,2026-10-20,2026-10-22,10
P2,10,CAT-1,SH01,5,,2026-11-10,2026-12-10,,
P3,10,HIP-1,SH01,3,,2026-11-10,2026-12-10,,
"""


# Policies written in a test: a head and its rules.

POLICY_HEAD = """\
policy: hand
version: {version}
owners: [{{scope: {{}}, owner: o@example.com}}]
rules:
"""


def policy_rule(rule_id: str, level: str, when: str) -> str:
    return f"""\
  - id: {rule_id}
    title: {{en: {rule_id}, zh-CN: 规则}}
    level: {level}
    when: {when}
    severity: high
    sla: {{acknowledge: 3d, resolve: 30d}}
    dispositions: [scrap]
"""


GOOD_POLICY = """\
policy: test
version: 1
owners:
  - scope: {category: [implant]}
    owner: zhang.wei@example.com
    escalation: [li.na@example.com, committee]
  - scope: {}
    owner: inventory@example.com
committee: [a@example.com]
rules:
  - id: idle
    title: {en: Idle, zh-CN: 呆滞}
    level: lot
    scope: {category: [implant]}
    when:
      days_since_movement: {gte: 180d}
      value: {gte: 5000}
    severity: high
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [reallocate, scrap]
"""


# The KPI company: the committee's KPIs computed by hand (tests/test_kpis.py) and its governance pack.

KPI_LOTS = """\
sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi
HIP-1,SH01,L1,S1,1,,2024-11-25,,2029-10-01,,released,
HIP-1,SH01,L2,S2,1,,2026-10-01,,2027-03-15,,released,
CAT-1,GZ03,A,,10,,2026-01-01,,2027-01-04,2026-06-01,released,
CAT-1,SH01,B,,5,,2025-05-01,,2026-12-20,,released,
"""

KPI_MOVEMENTS = """\
sku,site,lot,serial,type,qty,uom,moved_on,reference
CAT-1,GZ03,A,,issue,12,,2026-06-01,SO-1
HIP-1,SH01,L2,S2,issue,1,,2026-10-01,SO-2
"""

KPI_DEMAND = """\
sku,site,period,qty,kind
CAT-1,GZ03,2026-09,10,actual
CAT-1,GZ03,2026-09,12,forecast
CAT-1,GZ03,2026-10,8,actual
CAT-1,GZ03,2026-10,6,forecast
HIP-1,SH01,2026-10,2,actual
HIP-1,SH01,2026-10,1,forecast
CAT-1,GZ03,2026-04,50,actual
HIP-1,SH01,2026-11,3,forecast
"""

KPI_ORDERS = """\
po,line,sku,site,qty_open,ordered_on,promised_on,received_on,received_qty
P1,10,CAT-1,GZ03,0,2026-10-01,2026-11-05,2026-11-08,10
P1,20,CAT-1,SH01,0,2026-10-01,2026-11-10,2026-11-09,5
P2,10,HIP-1,SH01,0,2026-09-01,2026-10-20,2026-10-25,1
P3,10,HIP-1,SH01,2,2026-11-01,2026-12-15,,
"""

KPI_POLICY = """\
policy: kpi
version: 1
owners:
  - scope: {}
    owner: inventory@example.com
rules:
  - id: idle
    title: {en: Idle a year, zh-CN: 一年未动}
    level: lot
    when: {days_since_movement: {gte: 365}}
    severity: high
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [scrap]
  - id: phase-out
    title: {en: Phase-out model, zh-CN: 停产型号}
    level: sku
    when: {lifecycle: {in: [phase_out]}, on_hand: {gt: 0}}
    severity: critical
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [scrap]
  - id: slow
    title: {en: Slow, zh-CN: 周转慢}
    level: sku
    when: {on_hand: {gt: 0}}
    severity: medium
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [reallocate]
"""


def kpi_case_event(case_id: str, site: str, no: int, action: str, state: str, at: str, *, ack_due: str,
                   resolve_due: str) -> CaseEvent:
    return from_json(CaseEvent, {"case_id": case_id, "event_no": no, "action": action, "actor": "stockwarden", "state": state,
            "before": None, "after": state, "reason": "", "rule": "idle", "sku": "HIP-1", "site": site,
            "severity": "high", "owner": "zhang.wei@example.com", "assignees": ["zhang.wei@example.com"],
            "escalation_level": 0, "acknowledge_due": ack_due, "resolve_due": resolve_due,
            "lines": [{"lot": "L1", "serial": "S1", "value": "12000.50", "metrics": {}}], "policy_version": "kpi v1",
            "at": at})


PACK_NOW = datetime(2026, 11, 26, tzinfo=UTC)


# Hip cups at SH01: the cases, dispositions and messages of a policy with QA and a committee.

OWNER, BOSS = "zhang.wei@example.com", "li.na@example.com"
QA_OFFICER, QA_DIRECTOR, CFO = "qa.officer@example.com", "qa.director@example.com", "cfo@example.com"

HIP_LINES = [CaseLine("L1", "S1", "12000.50", {"days_since_movement": 400}, quantity="1", return_by="2025-02-23"),
         CaseLine("L2", "S2", "12000.50", {"days_since_movement": 200}, quantity="1", return_by="2099-12-30"),
         CaseLine("L3", "S3", "12000.50", {"days_since_movement": 200}, quantity="1", return_by="2099-12-30")]


HIP_LOTS = """\
sku,site,lot,serial,qty,uom,received_on,manufactured_on,expires_on,last_movement_on,qc_status,udi
HIP-1,SH01,L1,S1,1,,2024-11-25,2024-10-01,2029-10-01,,released,
HIP-1,SH01,L2,S2,1,,2026-10-01,2026-09-01,2031-09-01,,released,
HIP-1,SH01,L3,S3,1,,2026-10-01,2026-09-01,2031-09-01,,released,
CAT-1,GZ03,A,,3,,2026-01-01,2025-12-01,2027-01-04,,released,
"""

HIP_DEMAND = "sku,site,period,qty,kind\nHIP-1,BJ02,2026-10,2,actual\n"

HIP_ORDERS = "po,line,sku,site,qty_open\nP9,10,HIP-1,SH01,5\n"

HIP_POLICY = """\
policy: t
version: 1
owners:
  - scope: {}
    owner: zhang.wei@example.com
    escalation: [li.na@example.com, committee]
committee: [cfo@example.com, qa.director@example.com]
qa: [qa.officer@example.com, qa.director@example.com]
rules:
  - id: held
    title: {en: Held hip cups, zh-CN: 髋臼杯积压}
    level: lot
    scope: {category: [implant]}
    when:
      qty: {gt: 0}
    severity: high
    sla: {acknowledge: 3d, resolve: 30d}
    dispositions: [reallocate, substitute, return_to_supplier, reduce_purchase_order, sell_or_donate, scrap]
approvals:
  scrap: {qa_signoff: true, committee_over_value: 20000}
  return_to_supplier: {committee_over_value: 50000}
"""

DISPOSITIONS = ["reallocate", "substitute", "return_to_supplier", "reduce_purchase_order", "sell_or_donate", "scrap"]

DAY = 86_400.0
"""Seconds in a day (case deadlines are in seconds)."""


def case_input(case_id: str) -> CaseInput:
    return CaseInput(case_id=case_id, rule="idle-high-value", sku="HIP-1", site="SH01", severity="high",
                     title_en="High-value lot idle", title_zh="高值批次半年未动", policy_version="default v1",
                     owner="zhang.wei@example.com", escalation=["li.na@example.com", "committee"],
                     committee=["cfo@example.com", "qa.director@example.com"], acknowledge_seconds=3 * DAY,
                     resolve_seconds=30 * DAY, dispositions=["reallocate", "scrap"], snooze_max_seconds=5 * DAY)


def disposition_case(case_id: str) -> CaseInput:
    return replace(case_input(case_id), dispositions=DISPOSITIONS, qa=[QA_OFFICER, QA_DIRECTOR], supplier="Ortho Co",
                   substitutes=["HIP-2"], approvals={
                       "scrap": Approval(qa_signoff=True, committee_over_value="20000"),
                       "return_to_supplier": Approval(committee_over_value="50000")})


def two_cups(quantity: str = "1") -> list[ProposalLine]:
    return [ProposalLine("L2", "S2", quantity), ProposalLine("L3", "S3", quantity)]


PROPOSALS = {
    "reallocate": Propose(OWNER, "reallocate", two_cups(), target="BJ02", reason="BJ02 uses them"),
    "substitute": Propose(OWNER, "substitute", two_cups(), target="HIP-2", reason="fill HIP-2 orders"),
    "return_to_supplier": Propose(OWNER, "return_to_supplier", two_cups(), reason="inside the window"),
    "reduce_purchase_order": Propose(OWNER, "reduce_purchase_order", [ProposalLine("", "", "3")], target="P9/10",
                                     postpone_to="2099-01-31", reason="enough stock"),
    "sell_or_donate": Propose(OWNER, "sell_or_donate", two_cups(), target="Red Cross", reason="donate"),
    "scrap": Propose(OWNER, "scrap", two_cups(), reason="damaged packaging"),
}

LINK_SECRET = "test-secret"

TEAM = """\
people:
  - email: zhang.wei@example.com
    name: 张伟
    language: zh-CN
    digest: false
  - email: qa.officer@example.com
    name: 赵敏
    roles: [qa]
    language: zh-CN
  - email: qa.director@example.com
    name: Anna Weber
    roles: [qa, committee]
    language: en
  - email: cfo@example.com
    name: 刘洋
    roles: [committee]
    language: zh-CN
"""


# The audit trail.

AUDIT_SECRET = "a-test-secret-of-forty-characters-or-so-0123456789"



# A lot of 42 catheters idle at SH01, which its owner may scrap with no signature: the shortest way to one ERP
# instruction of 42, so that the API and the CLI can confirm part of it.

PARTIAL_LOTS = LOT_HEADER + "CAT-1,SH01,R1,,42,,2025-01-10,2024-12-01,2030-01-01,2025-02-01,released,\n"

PARTIAL_POLICY = """\
policy: partial
version: 1
owners:
  - scope: {}
    owner: zhang.wei@example.com
    escalation: [li.na@example.com, committee]
committee: [cfo@example.com, qa.director@example.com]
qa: [qa.officer@example.com, qa.director@example.com]
rules:
  - id: idle
    title: {en: Lot idle for half a year, zh-CN: 批次半年未动}
    level: lot
    when:
      days_since_movement: {gte: 180d}
    severity: medium
    sla: {acknowledge: 5d, resolve: 45d}
    dispositions: [scrap]
"""
