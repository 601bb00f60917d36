"""A case's states as people read them, in zh-CN and en: the one list the pages, the action links and
the messages all say them from (api/ and notifications/ cannot import each other; both may import core).
Plain words keyed by the state's value (core.case.CaseStatus), so this module imports nothing."""

from __future__ import annotations

STATE_NAMES: dict[str, dict[str, str]] = {
    "en": {"open": "open", "acknowledged": "acknowledged", "disposition_proposed": "disposition proposed",
           "awaiting_approval": "awaiting approval", "approved": "approved", "executing": "executing",
           "awaiting_confirmation": "awaiting ERP confirmation", "resolved": "resolved",
           "resolved_by_itself": "resolved by itself", "cancelled": "cancelled"},
    "zh-CN": {"open": "待确认", "acknowledged": "已确认", "disposition_proposed": "已提出处置", "awaiting_approval": "待审批",
              "approved": "已批准", "executing": "执行中", "awaiting_confirmation": "待 ERP 确认", "resolved": "已解决",
              "resolved_by_itself": "自动解决", "cancelled": "已取消"},
}


def state_name(state: str, language: str) -> str:
    """The state in `language`; a state without words (none should be) as it is stored."""
    return STATE_NAMES[language].get(str(state), str(state))
