"""The daily digest, read back from what a real SMTP server and a webhook received: one table of a
person's cases, the most severe and most valuable first, at most 25 rows with the rest counted and linked,
totals per rule; and one digest a person a day, also when a second round, a restarted program or a
concurrent round tries again."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

from sqlalchemy import Engine, select
from sqlmodel import col

from activities.notifications import NotificationActivities
from audit.trail import entries
from core.case import CaseEvent, from_json
from core.db import make_engine
from core.settings import Settings
from governance.service import record_event
from notifications.digest_days import claim
from notifications.links import read_my_cases
from notifications.models import DigestSent, Notification
from notifications.people import parse_people
from stockwarden.temporal import free_port
from tests.support.data import LINK_SECRET as SECRET
from tests.support.receivers import Mailbox, smtp_server, text_of, webhook_receiver

WANG, LI = "wang.fang@example.com", "li.lei@example.com"
RULES = {  # rule: (severity, English title, Chinese title)
    "expired": ("critical", "Expired stock", "过期库存"),
    "quarantine_sitting": ("high", "Quarantine sitting", "隔离滞留"),
    "idle_high_value": ("medium", "Idle high-value stock", "高值呆滞"),
    "slow_turnover": ("low", "Slow turnover", "周转缓慢"),
}
ORDER = ["critical", "high", "medium", "low"]
SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}


def people(hook_port: int) -> str:
    return f"""\
people:
  - email: {WANG}
    name: 王芳
    language: zh-CN
  - email: {LI}
    name: Li Lei
    language: en
    channels: [email, "json://127.0.0.1:{hook_port}/digest"]
"""


def settings(smtp_port: int) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_mode="insecure",
                    smtp_from="Stockwarden <stockwarden@example.com>", public_url="https://sw.example.com",
                    secret_key=SECRET)


@dataclass(frozen=True)
class Case:
    rule: str
    sku: str
    site: str
    value: Decimal

    @property
    def id(self) -> str:
        return f"case/{self.rule}/{self.site}/{self.sku}"

    @property
    def severity(self) -> str:
        return RULES[self.rule][0]


def open_case(engine: Engine, case: Case, assignees: list[str], *, notify: bool = True, due_in: timedelta = timedelta(days=10),
              title_en: str | None = None) -> None:
    """A case opened as CaseWorkflow records it: the mirror row and, with `notify`, a message per assignee."""
    now = datetime.now(UTC)
    _, title, title_zh = RULES[case.rule]
    with engine.begin() as connection:
        record_event(connection, from_json(CaseEvent, {
            "case_id": case.id, "event_no": 1, "action": "case.opened", "actor": "stockwarden", "state": "open",
            "before": None, "after": "open", "reason": "", "rule": case.rule, "sku": case.sku, "site": case.site,
            "severity": case.severity, "owner": assignees[0], "assignees": assignees, "escalation_level": 0,
            "acknowledge_due": (now + due_in).isoformat(), "resolve_due": (now + due_in + timedelta(days=30)).isoformat(),
            "lines": [{"lot": "L1", "serial": "", "value": str(case.value), "metrics": {}, "quantity": "1",
                       "return_by": "", "expires_on": ""}],
            "policy_version": "t v1", "at": now.isoformat(),
            "notify": {"event": "case_assigned", "recipients": assignees} if notify else None,
            "title_en": title_en or title, "title_zh": title_zh}))


def thirty_cases() -> list[Case]:
    """Severities in turn, values all different and not in order."""
    rules = list(RULES)
    return [Case(rules[i % 4], f"SKU-{i:02d}", "SH01", Decimal(1000 + (i * 2919) % 5000) + Decimal("0.25"))
            for i in range(30)]


class Tables(HTMLParser):
    """Every table of an HTML part as rows of cell texts (header rows included)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def digests(mailbox: Mailbox, person: str) -> list[str]:
    return [text_of(m, "html") for m in mailbox.to(person) if "Stockwarden" in m["Subject"]]


def test_thirty_cases_show_as_25_rows_by_severity_and_value_with_totals_per_rule_in_both_languages(engine: Engine) -> None:
    cases = thirty_cases()
    for case in cases:
        open_case(engine, case, [WANG, LI])
    smtp_port, hook_port = free_port(), free_port()
    with smtp_server(smtp_port) as mailbox, webhook_receiver(hook_port) as hooks:
        round_ = NotificationActivities(engine, settings(smtp_port), parse_people(people(hook_port), "x")).deliver_digests()
    assert (round_.sent, round_.failed) == (2, 0)
    expected = sorted(cases, key=lambda c: (ORDER.index(c.severity), -c.value))
    shown, hidden = expected[:25], expected[25:]
    assert {c.severity for c in hidden} == {"low"}  # the 5 left out are the least severe, least valuable

    [zh_mail] = mailbox.to(WANG)
    assert zh_mail["Subject"] == "【Stockwarden】今日案件：新增或变更 30 件，即将到期 0 件，已逾期 0 件"
    zh_html = text_of(zh_mail, "html")
    zh_cases, zh_totals = Tables(zh_html).tables
    assert zh_cases[0] == ["案件", "严重度", "料号", "地点", "状态", "截止日期", "金额", "列入原因", "操作"]
    assert len(zh_cases) == 1 + 25
    assert [row[2] for row in zh_cases[1:]] == [c.sku for c in shown]
    assert [(row[0], row[1], row[3], row[4], row[6], row[7]) for row in zh_cases[1:]] == [
        (RULES[c.rule][2], SEVERITY_ZH[c.severity], "SH01", "待确认", f"¥{c.value:,.2f}", "新增或变更") for c in shown]
    assert "另有 5 件案件未在此列出" in zh_html
    [more] = re.findall(r'另有 5 件案件未在此列出：<a href="https://sw\.example\.com/pages/enter/([^"]+)"', zh_html)
    assert read_my_cases(SECRET, more, 60) == WANG  # the full list: the owner's case list page, signed in
    assert len(re.findall(r'href="https://sw\.example\.com/act/', zh_html)) == 25 * 2  # acknowledge, propose per row

    def totals(language_title: int) -> list[list[str]]:
        rows = []
        for rule, (_, title_en, title_zh) in RULES.items():
            mine = [c for c in cases if c.rule == rule]  # all 30, shown or not
            value = sum((c.value for c in mine), Decimal(0))
            title = title_zh + f"（{rule}）" if language_title else f"{title_en} ({rule})"
            rows.append([title, str(len(mine)), f"¥{value:,.2f}" if language_title else f"CN¥{value:,.2f}"])
        return rows

    assert zh_totals[0] == ["规则", "案件数", "金额"]
    assert zh_totals[1:] == totals(1)
    assert [int(row[1]) for row in zh_totals[1:]] == [8, 8, 7, 7]

    [en_mail] = mailbox.to(LI)
    assert en_mail["Subject"] == "[Stockwarden] Your cases today: 30 new or changed, 0 due soon, 0 overdue"
    en_html = text_of(en_mail, "html")
    en_cases, en_totals = Tables(en_html).tables
    assert en_cases[0] == ["Case", "Severity", "SKU", "Site", "State", "Deadline", "Value", "Listed as", "Actions"]
    assert [(row[1], row[2], row[6]) for row in en_cases[1:]] == [(c.severity, c.sku, f"CN¥{c.value:,.2f}") for c in shown]
    assert en_totals[0] == ["Rule", "Cases", "Value"] and en_totals[1:] == totals(0)
    assert re.search(r'5 more cases not shown here: <a href="https://sw\.example\.com/pages/enter/', en_html)
    [hook] = hooks  # the webhook gets the plain-text table
    text = hook["json"]["message"]
    assert "Case | Severity | SKU | Site | State | Deadline | Value | Listed as" in text
    assert text.index(f"| {shown[0].sku} |") < text.index(f"| {shown[1].sku} |") < text.index(f"| {shown[24].sku} |")
    assert f"| {hidden[0].sku} |" not in text and "5 more cases not shown here" in text
    assert "All your cases: https://sw.example.com/pages/enter/" in text

    with engine.connect() as connection:
        assert {r.state for r in connection.execute(select(Notification))} == {"digested"}
        [sent] = [e for e in entries(connection, subject=f"person:{WANG}") if e.action == "notification.digest_sent"]
    assert (sent.after["cases"], sent.after["shown"], sent.after["new"], len(sent.after["messages"])) == (30, 25, 30, 30)
    assert sent.after["day"] == datetime.now(UTC).date().isoformat()


def test_markup_in_skus_sites_and_titles_stays_text_and_overdue_cases_come_without_a_message(engine: Engine) -> None:
    hostile = Case("expired", '<script>alert("sku")</script>', "<b>SH01</b>", Decimal("10"))
    late = Case("slow_turnover", "OLD-1", "GZ03", Decimal("99999"))
    open_case(engine, hostile, [LI], title_en='<img src=x onerror="alert(1)">')
    open_case(engine, late, [LI], notify=False, due_in=timedelta(days=-1))  # no new message: listed as overdue
    smtp_port, hook_port = free_port(), free_port()
    with smtp_server(smtp_port) as mailbox, webhook_receiver(hook_port):
        assert NotificationActivities(engine, settings(smtp_port), parse_people(people(hook_port), "x")).deliver_digests().sent == 1
    [mail] = mailbox.to(LI)
    assert mail["Subject"] == "[Stockwarden] Your cases today: 1 new or changed, 0 due soon, 1 overdue"
    html = text_of(mail, "html")
    assert "<script>" not in html and "<b>SH01" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;SH01&lt;/b&gt;" in html and "&lt;img src=x" in html
    rows = Tables(html).tables[0][1:]
    assert [(row[0], row[2], row[3], row[7]) for row in rows] == [  # critical first although worth less
        ('<img src=x onerror="alert(1)">', '<script>alert("sku")</script>', "<b>SH01</b>", "new or changed"),
        ("Slow turnover", "OLD-1", "GZ03", "overdue")]
    assert "All your cases" in html and "more case" not in html


def test_one_digest_a_day_across_rounds_and_restarts_and_again_the_next_day(engine: Engine, database_url: str) -> None:
    smtp_port = free_port()
    team = parse_people(people(free_port()), "x")
    first = Case("expired", "HIP-1", "SH01", Decimal("500"))
    later = Case("idle_high_value", "CAT-1", "SH01", Decimal("700"))
    with smtp_server(smtp_port) as mailbox:
        open_case(engine, first, [WANG])
        delivery = NotificationActivities(engine, settings(smtp_port), team)
        assert delivery.deliver_digests().sent == 1
        open_case(engine, later, [WANG])  # a new case the same day: it waits for tomorrow's digest
        assert delivery.deliver_digests().sent == 0
        restarted = make_engine(database_url)  # `stockwarden up` again: a new engine, a new dispatcher
        try:
            assert NotificationActivities(restarted, settings(smtp_port), team).deliver_digests().sent == 0
        finally:
            restarted.dispose()
        assert len(digests(mailbox, WANG)) == 1
        with engine.connect() as connection:
            waiting = connection.execute(select(Notification).where(col(Notification.case_id) == later.id)).one()
        assert waiting.state == "queued"

        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert delivery.dispatcher.deliver_digests(at=tomorrow).sent == 1
        assert delivery.dispatcher.deliver_digests(at=tomorrow).sent == 0
        today, next_day = digests(mailbox, WANG)
    assert [row[2] for row in Tables(today).tables[0][1:]] == ["HIP-1"]
    assert [row[2] for row in Tables(next_day).tables[0][1:]] == ["CAT-1"]  # yesterday's case told once
    with engine.connect() as connection:
        days = connection.execute(select(col(DigestSent.day), col(DigestSent.state), col(DigestSent.messages))
                                  .order_by(col(DigestSent.day))).all()
    assert [(d.isoformat(), s, m) for d, s, m in days] == [
        (datetime.now(UTC).date().isoformat(), "sent", 1), (tomorrow.date().isoformat(), "sent", 1)]


def test_concurrent_rounds_send_one_digest_and_the_key_decides(engine: Engine, database_url: str) -> None:
    smtp_port = free_port()
    team = parse_people(people(free_port()), "x")
    for case in thirty_cases()[:3]:
        open_case(engine, case, [WANG])
    other = make_engine(database_url)
    rounds = [NotificationActivities(e, settings(smtp_port), team) for e in (engine, other)]
    results: list[int] = []
    start = threading.Barrier(2)

    def run(activities: NotificationActivities) -> None:
        start.wait()
        results.append(activities.deliver_digests().sent)

    try:
        with smtp_server(smtp_port) as mailbox:
            threads = [threading.Thread(target=run, args=(r,)) for r in rounds]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert sorted(results) == [0, 1] and len(digests(mailbox, WANG)) == 1
        # A round that read before another claimed still cannot send: the insert of (person, day) decides.
        day = datetime(2031, 5, 1, tzinfo=UTC)
        assert claim(other, WANG, day.date(), day, messages=0, cases=1) is True
        assert claim(engine, WANG, day.date(), day, messages=0, cases=1) is False
    finally:
        other.dispose()


def test_a_digest_no_channel_took_is_sent_by_a_later_round_the_same_day(engine: Engine) -> None:
    smtp_port = free_port()
    open_case(engine, Case("expired", "HIP-1", "SH01", Decimal("500")), [WANG])
    delivery = NotificationActivities(engine, settings(smtp_port), parse_people(people(free_port()), "x"))
    down = delivery.deliver_digests()  # nothing listens on the port
    assert (down.sent, down.failed) == (0, 1)
    with engine.connect() as connection:
        assert connection.execute(select(DigestSent)).all() == []  # the claim was released
        [failed] = [e for e in entries(connection, subject=f"person:{WANG}") if e.action == "notification.digest_failed"]
    assert failed.after["channels"][0]["ok"] is False
    with smtp_server(smtp_port) as mailbox:
        assert delivery.deliver_digests().sent == 1
        assert delivery.deliver_digests().sent == 0
    assert len(digests(mailbox, WANG)) == 1


def test_a_digest_one_channel_took_is_not_sent_again_and_its_messages_wait_for_tomorrow(engine: Engine) -> None:
    smtp_port = free_port()  # Li Lei's email arrives; his webhook has no receiver
    open_case(engine, Case("expired", "HIP-1", "SH01", Decimal("500")), [LI])
    delivery = NotificationActivities(engine, settings(smtp_port), parse_people(people(free_port()), "x"))
    with smtp_server(smtp_port) as mailbox:
        assert (delivery.deliver_digests().failed, delivery.deliver_digests().failed) == (1, 0)
    assert len(digests(mailbox, LI)) == 1
    with engine.connect() as connection:
        assert connection.execute(select(col(DigestSent.state))).scalar_one() == "partial"
        assert connection.execute(select(col(Notification.state))).scalar_one() == "queued"
