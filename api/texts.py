"""What the pages say, in zh-CN and en: the action-link pages (LINK_TEXT) and the case, list, preview,
KPI and snapshot pages (PAGE_TEXT). Templates get both merged as `t`. A case's states are said from core/states.py
(STATE_NAMES here is that one list), the same words the messages use."""

from __future__ import annotations

from core.states import STATE_NAMES as STATE_NAMES  # the states' words live in core, where messages read them too

LINK_TEXT: dict[str, dict[str, str]] = {
    "en": {"acknowledge": "Acknowledge", "propose": "Propose", "approve": "Approve", "reject": "Reject",
           "case": "Case", "lines": "line(s)", "disposition": "Disposition", "quantity": "Quantity",
           "target": "Target (site, substitute SKU or PO/LINE)", "reason": "Reason",
           "nothing_changed": "Nothing was changed.", "refused": "This link cannot be used",
           "done": "Done", "wrong_person": "This link was sent to {person}; you are signed in as {other}.",
           "acknowledged": "You acknowledged the case. It is now {state}.",
           "proposed": "Your proposal was recorded. The case is now {state}.",
           "signed": "Your signature was recorded. The case is now {state}.",
           "link_expired": "This link has expired.", "link_used": "This link was already used.",
           "link_invalid": "This link is not valid (it was changed or not issued by Stockwarden).",
           "quantity_error": "Quantities must be numbers.", "meaning": "Meaning of your signature",
           "meaning_approved": "Approved", "meaning_reviewed": "Reviewed (no decision)",
           "pin": "Your signing PIN",
           "pin_missing": "Your signing PIN is required to sign; nothing was signed.",
           "pin_not_set": "You have no signing PIN yet, so you cannot sign. Set one at /pages/pin with your API token, or ask an administrator (stockwarden pin set).",
           "pin_wrong": "The signing PIN is wrong; nothing was signed.",
           "pin_locked": "Signing is locked after repeated wrong PINs; try again after {until} UTC.",
           "not_visible": "This case is not known, or not open to you.",
           "too_many_failures": "Too many failed attempts from your address; try again in {seconds} s."},
    "zh-CN": {"acknowledge": "确认接收", "propose": "提交处置方案", "approve": "批准", "reject": "驳回",
              "case": "案件", "lines": "行", "disposition": "处置方式", "quantity": "数量",
              "target": "目标（地点、替代料号或 采购单/行）", "reason": "理由",
              "nothing_changed": "未做任何更改。", "refused": "此链接无法使用", "done": "已完成",
              "wrong_person": "此链接发给 {person}；您当前登录为 {other}。",
              "acknowledged": "您已确认接收该案件，当前状态：{state}。",
              "proposed": "您的处置方案已记录，当前状态：{state}。",
              "signed": "您的签名已记录，当前状态：{state}。",
              "link_expired": "此链接已过期。", "link_used": "此链接已使用过。",
              "link_invalid": "此链接无效（已被改动，或并非由 Stockwarden 发出）。",
              "quantity_error": "数量必须是数字。", "meaning": "签名含义",
              "meaning_approved": "批准", "meaning_reviewed": "已审阅（不作决定）",
              "pin": "您的签名密码",
              "pin_missing": "签名需要输入您的签名密码；未签名。",
              "pin_not_set": "您尚未设置签名密码，无法签名。请在 /pages/pin 用您的 API 令牌设置，或请管理员执行 stockwarden pin set。",
              "pin_wrong": "签名密码不正确；未签名。",
              "pin_locked": "多次输入错误的签名密码，签名已锁定，请于 {until}（UTC）之后再试。",
              "not_visible": "此案件不存在，或您无权查看。",
              "too_many_failures": "您的地址失败尝试过多，请 {seconds} 秒后再试。"},
}

PAGE_TEXT: dict[str, dict[str, str]] = {
    "en": {"my_cases": "My cases", "all_cases": "Cases", "kpis": "KPIs", "preview": "Policy preview",
           "sign_in": "Sign in", "token": "API token", "signed_in_as": "Signed in as", "sign_out": "Sign out",
           "sign_in_help": "Open the “my cases” link from a Stockwarden message, or paste an API token.",
           "no_cases": "No cases.", "state": "State", "severity": "Severity", "due": "Due", "overdue": "overdue",
           "value": "Value", "rule": "Rule", "sku_site": "SKU @ site", "next_page": "Next page", "filter": "Filter",
           "any": "any", "facts": "Facts", "timeline": "Timeline", "actions": "Actions", "lot": "Lot",
           "serial": "Serial", "expires_on": "Expires", "why": "Why the rule fired", "owner": "Owner",
           "allowed": "Allowed", "po_line": "PO line",
           "assignees": "Assigned to", "acknowledge_due": "Acknowledge by", "resolve_due": "Resolve by",
           "comment": "Comment", "text": "Text", "sign": "Sign", "no_actions": "No actions are open to you now.",
           "proposal": "Proposal", "proposed_by": "proposed by", "policy_version": "Policy", "at": "At (UTC)",
           "actor": "Who", "action": "What", "draft": "Draft policy (YAML)", "run_preview": "Preview",
           "against": "against", "nothing_active": "no active policy", "added": "Added", "removed": "Removed",
           "kept": "Kept", "findings": "Findings", "by_rule": "By rule", "problems": "Problems",
           "period": "Month", "prior_month": "Prior month", "trend": "Trend", "kpi": "KPI",
           "aging": "Aging (days since movement)", "obsolete_trend": "Obsolete-stock ratio, 12 months",
           "expiry_outlook": "Value expiring, next 12 months", "as_of": "Snapshot of", "download_pack": "Download the pack (.xlsx)",
           "not_signed_in": "Please sign in.", "forbidden": "This page is not for your roles ({roles}).",
           "too_large": "What you sent is larger than this page takes.",
           "commented": "Your comment was recorded.", "language": "中文", "reason_required": "Reason",
           "meaning_rejected": "Rejected", "token_invalid": "This token is not valid (unknown, expired or revoked).",
           "signed_out": "You are signed out: the session of this browser has ended.",
           "pin_title": "Your signing PIN",
           "pin_help": "A signature (approve, reject, review) asks for this PIN each time, on every page and in the API. Prove who you are with your API token; a link from a message is not enough.",
           "current_pin": "Current PIN (if you have one)", "new_pin": "New PIN (6 to 64 characters)",
           "repeat_pin": "New PIN again", "set_pin": "Set PIN", "pin_saved": "Your signing PIN was set.",
           "pin_mismatch": "The two new PINs differ; nothing was changed.",
           "pin_length": "A signing PIN has 6 to 64 characters; nothing was changed.",
           "pin_current_wrong": "The current PIN is wrong; nothing was changed.",
           "sku": "SKU", "site": "Site",
           "filter_too_long": "{field} takes at most {limit} characters; the list was not filtered.",
           "filter_control": "{field} must not contain control characters (tabs, line breaks); the list was not filtered.",
           "snapshots": "Snapshots", "snapshot": "Snapshot", "as_of_date": "As of", "loaded_at": "Loaded at (UTC)",
           "loaded_by": "Loaded by", "row_counts": "Rows", "no_snapshots": "No snapshot has been loaded yet.",
           "snapshot_state_accepted": "Accepted", "snapshot_state_suspect": "Suspect: held",
           "snapshot_state_rejected": "Rejected", "in_use": "In use by scans, cases and KPIs",
           "held_because": "Held because", "was_held_because": "Was held because", "decided_by": "Decided by",
           "decision_reason": "Their reason", "accepted_at": "Accepted at (UTC)",
           "snapshots_help": "A load that looks like a broken export (no lots, or many positions or much value gone "
                             "against the last accepted snapshot) is held as suspect: scans, cases and KPIs keep "
                             "using the last accepted snapshot until a person decides.",
           "decide_help": "Accept it if the export is right (the stock really went): scans, cases and KPIs use it "
                          "from then on. Reject it if the export is broken: it stays stored and is never used. "
                          "Either way your reason is kept in the audit trail.",
           "decision_reason_label": "Reason (what was checked, and by whom)",
           "snapshot_accept": "Accept", "snapshot_reject": "Reject",
           "snapshot_accepted_in_use": "Snapshot {id} (as of {as_of}) was accepted: the next scan uses it.",
           "snapshot_accepted_newer": "Snapshot {id} (as of {as_of}) was accepted; snapshot {used}, newer, "
                                      "stays in use.",
           "snapshot_rejected_done": "Snapshot {id} (as of {as_of}) was rejected: it stays stored and is never used.",
           "snapshot_refused": "Snapshot {id} was not decided: {why}. Nothing was changed.",
           "choose_decision": "Choose Accept or Reject; nothing was changed.",
           "no_snapshot": "There is no snapshot {id}.",
           "snapshots_newest": "The newest {shown} snapshots are shown; `stockwarden snapshot list --limit N` lists more.",
           "table_materials": "materials", "table_lots": "lots", "table_uom_conversions": "unit conversions",
           "table_movements": "movements", "table_demand": "demand", "table_purchase_orders": "purchase-order lines"},
    "zh-CN": {"my_cases": "我的案件", "all_cases": "案件", "kpis": "指标", "preview": "策略预览",
              "sign_in": "登录", "token": "API 令牌", "signed_in_as": "当前用户", "sign_out": "退出",
              "sign_in_help": "请打开 Stockwarden 消息中的“我的案件”链接，或粘贴 API 令牌。",
              "no_cases": "没有案件。", "state": "状态", "severity": "严重度", "due": "截止", "overdue": "已逾期",
              "value": "金额", "rule": "规则", "sku_site": "料号 @ 地点", "next_page": "下一页", "filter": "筛选",
              "any": "全部", "facts": "事实", "timeline": "时间线", "actions": "操作", "lot": "批次",
              "serial": "序列号", "expires_on": "效期", "why": "触发原因", "owner": "负责人",
              "allowed": "可选处置", "po_line": "采购订单行",
              "assignees": "处理人", "acknowledge_due": "确认截止", "resolve_due": "结案截止",
              "comment": "评论", "text": "内容", "sign": "签名", "no_actions": "您当前没有可执行的操作。",
              "proposal": "处置方案", "proposed_by": "提出人", "policy_version": "策略", "at": "时间（UTC）",
              "actor": "操作人", "action": "操作", "draft": "策略草案（YAML）", "run_preview": "预览",
              "against": "对比", "nothing_active": "暂无生效策略", "added": "新增", "removed": "移除",
              "kept": "保留", "findings": "发现", "by_rule": "按规则", "problems": "问题",
              "period": "月份", "prior_month": "上月", "trend": "趋势", "kpi": "指标",
              "aging": "库龄（距上次移动天数）", "obsolete_trend": "呆滞料占比（近12个月）",
              "expiry_outlook": "未来12个月到期金额", "as_of": "快照日期", "download_pack": "下载治理报告（.xlsx）",
              "not_signed_in": "请先登录。", "forbidden": "此页面不适用于您的角色（{roles}）。",
              "too_large": "提交的内容超过此页面允许的大小。",
              "commented": "您的评论已记录。", "language": "English", "reason_required": "理由",
              "meaning_rejected": "驳回", "token_invalid": "此令牌无效（不存在、已过期或已吊销）。",
              "signed_out": "您已退出：此浏览器的会话已结束。",
              "pin_title": "我的签名密码",
              "pin_help": "每次签名（批准、驳回、审阅）都需要输入此密码，页面和 API 均是如此。请用您的 API 令牌证明身份；消息中的链接不足以设置密码。",
              "current_pin": "当前密码（如已设置）", "new_pin": "新密码（6 至 64 个字符）",
              "repeat_pin": "再次输入新密码", "set_pin": "设置密码", "pin_saved": "您的签名密码已设置。",
              "pin_mismatch": "两次输入的新密码不一致；未做任何更改。",
              "pin_length": "签名密码须为 6 至 64 个字符；未做任何更改。",
              "pin_current_wrong": "当前密码不正确；未做任何更改。",
              "sku": "料号", "site": "地点",
              "filter_too_long": "{field}最多 {limit} 个字符；未筛选。",
              "filter_control": "{field}不能包含控制字符（制表符、换行等）；未筛选。",
              "snapshots": "库存快照", "snapshot": "快照", "as_of_date": "数据日期", "loaded_at": "导入时间（UTC）",
              "loaded_by": "导入人", "row_counts": "行数", "no_snapshots": "尚未导入任何快照。",
              "snapshot_state_accepted": "已接受", "snapshot_state_suspect": "可疑：暂停使用",
              "snapshot_state_rejected": "已拒绝", "in_use": "扫描、案件和指标正在使用",
              "held_because": "暂停使用的原因", "was_held_because": "曾暂停使用的原因", "decided_by": "决定人",
              "decision_reason": "决定理由", "accepted_at": "接受时间（UTC）",
              "snapshots_help": "看起来像是导出有误的导入（没有批次，或与上一个已接受的快照相比少了许多批次库位或金额）"
                                "会被暂停使用：在有人作出决定之前，扫描、案件和指标继续使用上一个已接受的快照。",
              "decide_help": "如导出无误（库存确实减少），请接受：此后扫描、案件和指标将使用它。如导出有误，请拒绝："
                             "它将保留，但不会被使用。无论哪种决定，您的理由都会记入审计记录。",
              "decision_reason_label": "理由（核对了什么、由谁核对）",
              "snapshot_accept": "接受", "snapshot_reject": "拒绝",
              "snapshot_accepted_in_use": "快照 {id}（数据日期 {as_of}）已接受：下次扫描将使用它。",
              "snapshot_accepted_newer": "快照 {id}（数据日期 {as_of}）已接受；较新的快照 {used} 仍在使用。",
              "snapshot_rejected_done": "快照 {id}（数据日期 {as_of}）已拒绝：它将保留，但不会被使用。",
              "snapshot_refused": "快照 {id} 未作决定：{why}。未做任何更改。",
              "choose_decision": "请选择接受或拒绝；未做任何更改。",
              "no_snapshot": "没有快照 {id}。",
              "snapshots_newest": "仅显示最新的 {shown} 个快照；更多请用 `stockwarden snapshot list --limit N`。",
              "table_materials": "物料", "table_lots": "批次库存", "table_uom_conversions": "单位换算",
              "table_movements": "出入库记录", "table_demand": "需求", "table_purchase_orders": "采购订单行"},
}


def page_text(language: str) -> dict[str, str]:
    return {**LINK_TEXT[language], **PAGE_TEXT[language]}


REFUSAL_TEXT: dict[str, dict[str, str]] = {
    "en": {"confirm_more_than_open": "instruction {instruction} has {open} still open, less than the {asked} "
                                     "confirmed; confirm at most {open} (leave out the quantity to confirm all of it)",
           "confirm_quantity": "the quantity carried out must be a number greater than 0, not '{asked}'"},
    "zh-CN": {"confirm_more_than_open": "指令 {instruction} 尚余 {open} 未完成，少于确认的 {asked}；最多确认 {open}"
                                        "（不填数量即确认全部）",
              "confirm_quantity": "完成数量必须是大于 0 的数字，而不是“{asked}”"},
}
"""Refusals of the API and the console that the case workflow does not say itself (it speaks only English,
and only of what it holds)."""


def refusal_words(language: str | None, key: str, **values: object) -> str:
    """A refusal in `language`; with None (the console, which knows no reader) in English and Chinese."""
    if language is None:
        return " / ".join(REFUSAL_TEXT[lang][key].format(**values) for lang in ("en", "zh-CN"))
    return REFUSAL_TEXT[language][key].format(**values)
