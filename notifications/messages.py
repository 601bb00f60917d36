"""Rendering a case message for one person: subject, plain text, HTML and a short chat form, in the
person's language, with money and dates formatted the way that language writes them (Babel's CLDR data,
not hand-made formats: 5,000.50 vs 5,000.50 is the same, but dates and currency symbols are not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.states import state_name

TEMPLATES = Path(__file__).parent / "templates"
EVENTS = ("case_assigned", "reminder", "escalated", "approval_requested", "approved", "rejected",
          "instruction_sent", "resolved", "resolved_by_itself", "cancelled", "delivery_failing", "tightened",
          "plan_trimmed", "plan_done")
LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}
DISPOSITIONS = {
    "en": {"reallocate": "reallocate to another site", "substitute": "use for a substitute model",
           "return_to_supplier": "return to supplier", "reduce_purchase_order": "cut or postpone the purchase order",
           "sell_or_donate": "sell or donate", "scrap": "scrap"},
    "zh-CN": {"reallocate": "调拨至其他地点", "substitute": "替代型号使用", "return_to_supplier": "退回供应商",
              "reduce_purchase_order": "削减或推迟采购订单", "sell_or_donate": "出售或捐赠", "scrap": "报废"},
}
SEVERITY_NAMES = {
    "en": {"critical": "critical", "high": "high", "medium": "medium", "low": "low"},
    "zh-CN": {"critical": "严重", "high": "高", "medium": "中", "low": "低"},
}
ACTIONS = {
    "en": {"acknowledge": "Acknowledge", "propose": "Propose a disposition", "approve": "Approve",
           "reject": "Reject", "case": "Open the case"},
    "zh-CN": {"acknowledge": "确认接收", "propose": "提出处置方案", "approve": "批准", "reject": "驳回",
              "case": "查看案件"},
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    chat: str
    language: str


def _environment(language: str) -> Environment:
    locale = LOCALES[language]
    environment = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                              autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
                              trim_blocks=False, keep_trailing_newline=False)

    def money(value: Any, currency: str) -> str:
        return format_currency(Decimal(str(value)), currency, locale=locale)

    def number(value: Any) -> str:
        return format_decimal(Decimal(str(value)).normalize(), locale=locale)

    def day(value: Any) -> str:
        when = value if isinstance(value, date) else datetime.fromisoformat(str(value))
        return format_date(when.date() if isinstance(when, datetime) else when, format="long", locale=locale)

    environment.filters.update(money=money, number=number, day=day,
                               disposition=lambda name: " + ".join(DISPOSITIONS[language].get(part, part)
                                                                   for part in str(name).split("+")),
                               state=lambda name: state_name(str(name), language),
                               severity=lambda name: SEVERITY_NAMES[language].get(str(name), str(name)))
    return environment


_ENVIRONMENTS = {language: _environment(language) for language in LOCALES}


def render(event: str, language: str, context: dict[str, Any]) -> Message:
    """`context` holds person, case, deadline and actions (see notifications/context.py)."""
    environment = _ENVIRONMENTS[language]
    text = environment.get_template(f"{language}/{event}.txt.j2")
    parts = {part: text.render(context, part=part).strip() for part in ("subject", "text", "chat")}
    html = environment.get_template(f"{language}/{event}.html.j2").render(context)
    return Message(subject=" ".join(parts["subject"].split()), text=parts["text"], html=html, chat=parts["chat"],
                   language=language)


def action_label(action: str, language: str) -> str:
    return ACTIONS[language][action]
