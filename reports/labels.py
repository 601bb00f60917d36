"""Sheet names, column headers and KPI names of the governance pack, in zh-CN and en."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "sheet_summary": "Summary", "sheet_aging": "Aging", "sheet_top_risks": "Top risks",
        "sheet_expiry": "Expiry outlook", "sheet_cases": "Open cases", "sheet_decisions": "Decisions",
        "sheet_purchase": "Purchase adjustments", "sheet_audit": "Audit extract", "sheet_policy": "Policy",
        "kpi": "KPI", "prior_month": "Prior month", "trend": "Trend", "aging": "Aging (days since movement)",
        "value": "Value", "month": "Month", "expiring_value": "Value expiring", "expiry_outlook": "Expiry outlook",
        "scope": "Scope", "key": "Name", "site": "Site", "category": "Category", "company": "Company",
        "on_hand_value": "On-hand value", "projected_expiry": "Projected expiry value", "rule": "Rule",
        "severity": "Severity", "lot": "Lot", "serial": "Serial", "owner": "Owner", "state": "State",
        "case": "Case", "due": "Due (UTC)", "overdue_days": "Days overdue", "escalation_level": "Escalation level",
        "disposition": "Disposition", "signer": "Signer", "meaning": "Meaning", "role": "Signs as",
        "signed_at": "Signed at (UTC)", "reason": "Reason", "pending": "pending", "po_line": "PO/line",
        "cut_qty": "Cut quantity", "postpone_to": "Postpone to", "issued_at": "Issued at (UTC)", "at": "At (UTC)",
        "actor": "Actor", "action": "Action", "subject": "Subject", "title": "Title", "level": "Level",
        "conditions": "Conditions", "dispositions": "Dispositions", "activated_by": "activated by",
        "audit_checkpoint": "Audit checkpoint (signed)",
        "checkpoint_line": "entry {seq} of {count}, head hash {head}, at {at} (UTC); `stockwarden audit verify` checks it",
        "sheet_case_lines": "Case lines", "quantity": "Quantity", "governing_rule": "Governing rule",
        "findings": "Findings (every rule that fired, the governing one first)", "governs": "governs",
        "sku_level": "on the SKU-site",
    },
    "zh-CN": {
        "sheet_summary": "摘要", "sheet_aging": "库龄", "sheet_top_risks": "重点风险", "sheet_expiry": "效期展望",
        "sheet_cases": "未结案件", "sheet_decisions": "处置决定", "sheet_purchase": "采购调整",
        "sheet_audit": "审计摘录", "sheet_policy": "策略",
        "kpi": "指标", "prior_month": "上月", "trend": "趋势", "aging": "库龄（距上次移动天数）", "value": "金额",
        "month": "月份", "expiring_value": "到期金额", "expiry_outlook": "效期展望", "scope": "范围", "key": "名称",
        "site": "地点", "category": "品类", "company": "公司", "on_hand_value": "库存金额",
        "projected_expiry": "预计过期金额", "rule": "规则", "severity": "严重度", "lot": "批次", "serial": "序列号",
        "owner": "负责人", "state": "状态", "case": "案件", "due": "截止（UTC）", "overdue_days": "逾期天数",
        "escalation_level": "升级级别", "disposition": "处置方式", "signer": "签名人", "meaning": "签名含义",
        "role": "签署身份", "signed_at": "签名时间（UTC）", "reason": "理由", "pending": "待审批",
        "po_line": "采购单/行", "cut_qty": "削减数量", "postpone_to": "推迟至", "issued_at": "下发时间（UTC）",
        "at": "时间（UTC）", "actor": "操作人", "action": "操作", "subject": "对象", "title": "标题", "level": "层级",
        "conditions": "条件", "dispositions": "处置方式", "activated_by": "启用人",
        "audit_checkpoint": "审计检查点（已签名）",
        "checkpoint_line": "第 {seq} 条（共 {count} 条），链头哈希 {head}，时间 {at}（UTC）；`stockwarden audit verify` 核对",
        "sheet_case_lines": "案件明细", "quantity": "数量", "governing_rule": "主导规则",
        "findings": "触发的规则及原因（主导规则在前）", "governs": "主导", "sku_level": "料号-地点层面",
    },
}

KPI_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "on_hand_value": "On-hand value", "turnover_days": "Inventory turnover days",
        "obsolete_ratio": "Obsolete-stock ratio", "obsolete_value": "Obsolete-stock value",
        "projected_expiry_value": "Projected expiry value", "forecast_wape": "Forecast error (WAPE, 6 months)",
        "forecast_bias": "Forecast bias (6 months)", "delivery_mean_days_late": "Delivery: mean days late",
        "delivery_share_late": "Delivery: share late", "cases_opened": "Cases opened",
        "cases_resolved": "Cases resolved", "cases_resolved_by_itself": "Cases resolved by themselves",
        "median_days_to_acknowledge": "Median days to acknowledge", "median_days_to_resolve": "Median days to resolve",
        "share_within_sla": "Resolved within SLA", "cases_overdue_now": "Cases overdue now", "escalations": "Escalations",
    },
    "zh-CN": {
        "on_hand_value": "库存金额", "turnover_days": "库存周转天数", "obsolete_ratio": "呆滞料占比",
        "obsolete_value": "呆滞料金额", "projected_expiry_value": "预计过期金额",
        "forecast_wape": "预测误差（WAPE，近6个月）", "forecast_bias": "预测偏差（近6个月）",
        "delivery_mean_days_late": "交货平均延迟天数", "delivery_share_late": "延迟交货占比",
        "cases_opened": "新开案件", "cases_resolved": "已结案件", "cases_resolved_by_itself": "自动结案",
        "median_days_to_acknowledge": "确认接收中位天数", "median_days_to_resolve": "结案中位天数",
        "share_within_sla": "SLA 内结案占比", "cases_overdue_now": "当前逾期案件", "escalations": "升级次数",
    },
}


def kpi_label(name: str, language: str) -> str:
    return KPI_NAMES[language].get(name, name)
