"""The shape of a policy file, as pydantic models: the single source of its checks and of its JSON Schema.

Thresholds are loosely typed here (a number, a duration such as `30d`, a word or a date) because
what is right depends on the metric they compare; rules/checks.py judges them against the metric's unit.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, PlainSerializer, WithJsonSchema
from pydantic.networks import validate_email

from rules.vocabulary import COMMITTEE, Disposition, Level, Severity

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([dwh])\s*$")
_UNIT_DAYS = {"d": 1.0, "w": 7.0, "h": 1 / 24}


def parse_duration(value: Any) -> timedelta:
    """`3d`, `12w` or `36h`; a bare number is days."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 3d or 12w")
    if isinstance(value, int | float):
        return timedelta(days=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a duration (write days or weeks, such as 3d or 12w)")
    return timedelta(days=float(match[1]) * _UNIT_DAYS[match[2]])


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: f"{d.total_seconds() / 86400:g}d"),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern, "examples": ["3d", "12w"]}),
]
Threshold = int | float | str


def _recipient(value: Any) -> str:
    """An escalation step is a person's address or the whole committee."""
    if value == COMMITTEE:
        return COMMITTEE
    return validate_email(str(value))[1]


Recipient = Annotated[str, BeforeValidator(_recipient), WithJsonSchema({"anyOf": [{"type": "string", "format": "email"}, {"const": COMMITTEE}]})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Condition(_Strict):
    """Every operator given must hold; `{gte: 10, lt: 20}` is a range."""

    gt: Threshold | None = None
    gte: Threshold | None = None
    lt: Threshold | None = None
    lte: Threshold | None = None
    eq: Threshold | None = None
    ne: Threshold | None = None
    in_: list[Threshold] | None = Field(default=None, alias="in")
    not_in: list[Threshold] | None = None
    between: list[Threshold] | None = Field(default=None, description="[low, high], both included")
    is_null: bool | None = None

    def operators(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Scope(_Strict):
    """Which stock a rule or owner covers; an absent key matches everything, a list matches any of it."""

    category: list[str] | None = None
    site: list[str] | None = None
    sku: list[str] | None = None
    risk_class: list[str] | None = None
    lifecycle: list[str] | None = None
    storage: list[str] | None = None
    qc_status: list[str] | None = None

    def items(self) -> dict[str, list[str]]:
        return self.model_dump(exclude_none=True)

    def matches(self, subject: dict[str, Any]) -> bool:
        return all(subject.get(key) in values for key, values in self.items().items())


class Title(_Strict):
    en: str = Field(min_length=1)
    zh_cn: str = Field(alias="zh-CN", min_length=1)


class Sla(_Strict):
    acknowledge: Duration
    resolve: Duration
    snooze_max: Duration | None = None
    """How long an owner may postpone this rule's deadlines in all, with a reason; absent: not at all."""


Conditions = dict[str, Condition]


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
    title: Title
    level: Level = Level.LOT
    scope: Scope = Scope()
    when: Conditions = Field(default_factory=dict)
    any: list[Conditions] = Field(default_factory=list)
    severity: Severity
    sla: Sla
    dispositions: list[Disposition] = Field(min_length=1)


class OwnerScope(_Strict):
    scope: Scope = Scope()
    owner: EmailStr
    escalation: list[Recipient] = Field(default_factory=list)


class Approval(_Strict):
    qa_signoff: bool = False
    committee_over_value: Decimal | None = Field(default=None, ge=0)


def parse_percent(value: Any) -> Decimal:
    """`20%`, `20 %` or a bare 20: percent, never a fraction (0.2 is 0.2 %)."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 20%")
    text = str(value).strip().removesuffix("%").strip()
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"'{value}' is not a percentage (write it as 20%)") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise ValueError(f"'{value}' is not a percentage between 0% and 100%")
    return number


Percent = Annotated[
    Decimal,
    BeforeValidator(parse_percent),
    PlainSerializer(lambda d: f"{d}%"),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": 100},
                              {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$"}],
                    "examples": ["20%"]}),
]


class SnapshotGuard(_Strict):
    """When a new snapshot is held as suspect (inventory/suspect.py): stored, but used by no scan, case or
    KPI until a person accepts it."""

    suspect_drop: Percent = Field(default=Decimal(20), description=(
        "A snapshot that removes more than this share of the last accepted one's positions with stock, or "
        "of its stock value in any currency, is suspect (a snapshot with no lots always is) / 新快照相对上一个"
        "已接受快照减少的有库存批次库位或库存金额超过此比例时（或没有任何批次时）列为可疑，经人工接受后才使用"))


class Policy(_Strict):
    """A compliance officer's policy file: who owns what, and which stock is a finding."""

    policy: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=60)
    version: int = Field(ge=1, le=2**31 - 1)  # stored in a 32-bit integer column
    owners: list[OwnerScope] = Field(min_length=1)
    committee: list[EmailStr] = Field(default_factory=list)
    qa: list[EmailStr] = Field(default_factory=list)
    """Who may sign QA sign-off (scrap of medical devices is a quality decision, not only a financial one)."""
    rules: list[Rule] = Field(min_length=1)
    approvals: dict[Disposition, Approval] = Field(default_factory=dict)
    snapshots: SnapshotGuard = Field(default=SnapshotGuard(), exclude=True)
    """Excluded from dumps, so from rules.compiler.policy_hash, which names what the findings depend on: the
    guard decides which snapshot is scanned, never what a scan finds, and a policy hash that changed with
    this field's arrival would have made every stored scan look as if another policy had made it."""

    def owner_for(self, subject: dict[str, Any]) -> OwnerScope | None:
        """The first owner scope that matches wins, as in the file."""
        return next((o for o in self.owners if o.scope.matches(subject)), None)
