"""Messages reach real receivers: an SMTP server and an HTTP webhook on loopback. Subject, body,
language, money and date formats and action links are read back from what arrived."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from activities.notifications import NotificationActivities
from audit.trail import entries
from core.case import CaseEvent, from_json, position_key
from core.settings import Settings
from governance.service import record_event
from notifications.links import read, read_my_cases
from notifications.models import Notification
from notifications.people import parse_people
from stockwarden.temporal import free_port
from tests.support.cases import until
from tests.support.data import LINK_SECRET as SECRET
from tests.support.data import TEAM
from tests.support.receivers import smtp_server, text_of, webhook_receiver


def people(webhook_port: int) -> str:
    return f"""\
people:
  - email: zhang.wei@example.com
    name: 张伟
    language: zh-CN
    channels: [email, "json://127.0.0.1:{webhook_port}/wecom-bridge"]
    digest: false
  - email: inventory@example.com
    name: Inventory team
    language: en
    digest: false
  - email: wang.fang@example.com
    name: 王芳
    language: zh-CN
"""


def settings(smtp_port: int) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_mode="insecure",
                    smtp_from="Stockwarden <stockwarden@example.com>", public_url="https://sw.example.com",
                    secret_key=SECRET)


def step(engine: Engine, recipient: str, template: str = "case_assigned", event_no: int = 1,
         case_id: str = position_key("HIP-1", "SH01", "zhang.wei@example.com"), state: str = "open") -> None:
    """A recorded case step that queues one message, as CaseWorkflow's record activity does."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        record_event(connection, from_json(CaseEvent, {
            "case_id": case_id, "event_no": event_no, "action": "case.opened", "actor": "stockwarden",
            "state": state, "before": None, "after": state, "reason": "", "rule": "held", "sku": "HIP-1",
            "site": "SH01", "severity": "high", "owner": recipient, "assignees": [recipient], "escalation_level": 0,
            "acknowledge_due": (now + timedelta(days=3)).isoformat(), "resolve_due": (now + timedelta(days=30)).isoformat(),
            "lines": [{"lot": "L2", "serial": "S2", "value": "12000.5", "metrics": {}, "quantity": "1",
                       "return_by": "", "expires_on": "2031-09-01"}],
            "policy_version": "t v1", "at": now.isoformat(),
            "proposal": {"by": "zhang.wei@example.com", "disposition": "scrap", "value": "12000.50",
                         "signatures": []} if state == "awaiting_approval" else None,
            "notify": {"event": template, "recipients": [recipient]},
            "title_en": "Held hip cups", "title_zh": "髋臼杯积压"}))


def test_a_chinese_owner_gets_email_and_chat_in_chinese_with_signed_links(scanned: Engine) -> None:
    smtp_port, hook_port = free_port(), free_port()
    with smtp_server(smtp_port) as mailbox, webhook_receiver(hook_port) as hooks:
        step(scanned, "zhang.wei@example.com")
        outcome = NotificationActivities(scanned, settings(smtp_port), parse_people(people(hook_port), "x")).deliver_due()
    assert (outcome.sent, outcome.failed) == (1, 0)
    [mail] = mailbox.to("zhang.wei@example.com")
    assert mail["Subject"] == "【Stockwarden】您有一个新案件：髋臼杯积压 · HIP-1 @ SH01"
    html, text = text_of(mail, "html"), text_of(mail, "plain")
    assert 'lang="zh-CN"' in html and "张伟，您好" in html
    assert "¥12,000.50" in html and "2031年9月1日" in html and "髋臼杯 Acetabular cup 52" in html
    assert "qty" in html and "gt 0" in html  # why: the metric against its threshold
    links = re.findall(r'href="(https://sw\.example\.com/act/[^"]+)"', html)
    assert len(links) == 2 and "确认接收" in text
    actions = {read(SECRET, link.rsplit("/", 1)[1], 3600).action for link in links}
    assert actions == {"acknowledge", "propose"}
    [hook] = hooks
    assert hook["path"] == "/wecom-bridge"
    assert hook["json"]["title"].startswith("【Stockwarden】您有一个新案件")
    assert "确认接收：https://sw.example.com/act/" in hook["json"]["message"]
    assert "张伟，您好" in hook["json"]["message"]  # a generic webhook gets the whole text form
    with scanned.connect() as connection:
        [row] = connection.execute(select(Notification)).all()
        assert (row.state, row.attempts) == ("sent", 1)
        [sent] = [e for e in entries(connection, case=position_key("HIP-1", "SH01", "zhang.wei@example.com")) if e.action == "notification.sent"]
    assert sent.after["language"] == "zh-CN" and {c["channel"] for c in sent.after["channels"]} == {"email", "json"}


def test_what_a_step_changed_is_told_in_the_readers_language(scanned: Engine) -> None:
    """A trimmed plan and a tightened case say what changed from the step's typed changes, in Chinese for
    张伟 and in English for the inventory team; the workflow's English reason is not shown to either."""
    now = datetime.now(UTC)
    changes = {
        "plan_trimmed": [{"kind": "cut", "lot": "L2", "serial": "S2", "before": "42", "after": "12"},
                         {"kind": "dropped", "lot": "L3", "before": "5", "after": "0", "why": "quarantine"},
                         {"kind": "dropped", "po": "P9/10", "before": "3", "after": "0", "why": "closed"},
                         {"kind": "cut", "lot": "<b>L9</b>", "before": "2", "after": "1"}],  # markup from the ERP
        "tightened": [{"kind": "severity", "before": "medium", "after": "critical", "why": "expired"},
                      {"kind": "acknowledge_due", "before": "2026-12-09T00:00:00+00:00",
                       "after": "2026-12-05T00:00:00+00:00"}]}
    smtp_port = free_port()
    with smtp_server(smtp_port) as mailbox:
        with scanned.begin() as connection:
            for no, (template, told) in enumerate(changes.items(), start=1):
                record_event(connection, from_json(CaseEvent, {
                    "case_id": "position/SH01/HIP-1/changes", "event_no": no, "action": f"case.{template}",
                    "actor": "stockwarden", "state": "acknowledged", "before": None, "after": None,
                    "reason": "the latest snapshot holds less: lot L2 serial S2: 42 -> 12", "rule": "held",
                    "sku": "HIP-1", "site": "SH01", "severity": "critical", "owner": "zhang.wei@example.com",
                    "assignees": ["zhang.wei@example.com", "inventory@example.com"], "escalation_level": 0,
                    "acknowledge_due": (now + timedelta(days=1)).isoformat(),
                    "resolve_due": (now + timedelta(days=7)).isoformat(), "lines": [], "policy_version": "t v1",
                    "at": now.isoformat(), "notify": {"event": template, "recipients": [
                        "zhang.wei@example.com", "inventory@example.com"]},
                    "title_en": "Held hip cups", "title_zh": "髋臼杯积压", "changes": told}))
        NotificationActivities(scanned, settings(smtp_port), parse_people(people(free_port()), "x")).deliver_due()
    zh = {text_of(m, "plain").split("\n")[2]: text_of(m, "plain") for m in mailbox.to("zhang.wei@example.com")}
    en = {text_of(m, "plain").split("\n")[2]: text_of(m, "plain") for m in mailbox.to("inventory@example.com")}
    trimmed_zh = next(t for t in zh.values() if "处置方案已缩减" in t)
    assert "批次 L2 序列号 S2：由 42 缩减为 12" in trimmed_zh
    assert "批次 L3：5 已移出方案（处于隔离状态：只能退回或报废）" in trimmed_zh
    assert "采购订单行 P9/10：3 已移出方案（该行已无未交数量）" in trimmed_zh
    assert "42 -> 12" not in trimmed_zh  # the trail's English reason stays in the trail
    tightened_zh = next(t for t in zh.values() if "严重程度由中升为严重" in t)
    assert "确认期限提前至 2026年12月5日（原为 2026年12月9日）" in tightened_zh
    trimmed_en = next(t for t in en.values() if "lot L2 serial S2: 42 cut to 12" in t)
    assert "lot L3: 5 left the plan (it is in quarantine: it may be returned or scrapped, nothing else)" in trimmed_en
    assert "PO line P9/10: 3 left the plan (nothing is open on it any more)" in trimmed_en
    assert any("Severity raised from medium to critical" in t and "Acknowledge by December 5, 2026" in t
               for t in en.values())
    html = next(text_of(m, "html") for m in mailbox.to("inventory@example.com") if "42 cut to 12" in text_of(m, "html"))
    assert "<li>lot L2 serial S2: 42 cut to 12</li>" in html  # a list, not its markup shown as text
    assert "<b>L9</b>" not in html and "&lt;b&gt;L9&lt;/b&gt;" in html  # the ERP's text is never markup


def test_an_english_reader_gets_english_formats(scanned: Engine) -> None:
    smtp_port = free_port()
    with smtp_server(smtp_port) as mailbox:
        step(scanned, "inventory@example.com", template="escalated")
        NotificationActivities(scanned, settings(smtp_port), parse_people(people(free_port()), "x")).deliver_due()
    [mail] = mailbox.to("inventory@example.com")
    assert mail["Subject"] == "[Stockwarden] A case has been escalated: Held hip cups · HIP-1 @ SH01"
    html = text_of(mail, "html")
    assert "Dear Inventory team" in html and "CN¥12,000.50" in html and "September 1, 2031" in html


def test_smtp_down_then_up_delivers_the_message_once(scanned: Engine) -> None:
    smtp_port = free_port()
    delivery = NotificationActivities(scanned, settings(smtp_port), parse_people(people(free_port()), "x"))
    step(scanned, "inventory@example.com")
    down = delivery.deliver_due()  # nothing listens on the port
    assert (down.sent, down.failed) == (0, 1)
    with scanned.connect() as connection:
        row = connection.execute(select(Notification)).one()
    assert (row.state, row.attempts) == ("queued", 1) and "email" in row.last_error
    assert delivery.deliver_due().failed == 0  # not due again before its pause is over
    with smtp_server(smtp_port) as mailbox:
        with scanned.begin() as connection:  # the pause is over
            connection.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
        assert delivery.deliver_due().sent == 1
        assert delivery.deliver_due().sent == 0
        assert len(mailbox.messages) == 1
    with scanned.connect() as connection:
        actions = [e.action for e in entries(connection, case=position_key("HIP-1", "SH01", "zhang.wei@example.com"))]
    assert actions.count("notification.failed") == 1 and actions.count("notification.sent") == 1


def test_people_who_take_a_digest_get_one_message_a_day(scanned: Engine) -> None:
    smtp_port = free_port()
    delivery = NotificationActivities(scanned, settings(smtp_port), parse_people(people(free_port()), "x"))
    with smtp_server(smtp_port) as mailbox:
        step(scanned, "wang.fang@example.com", case_id=position_key("HIP-1", "SH01", "zhang.wei@example.com"))
        step(scanned, "wang.fang@example.com", case_id="case/held/GZ03/CAT-1", event_no=1)
        step(scanned, "wang.fang@example.com", template="approval_requested", case_id=position_key("HIP-1", "SH01", "zhang.wei@example.com"), event_no=2,
             state="awaiting_approval")
        assert delivery.deliver_due().sent == 1  # the approval request goes out at once
        assert delivery.deliver_digests().sent == 1
        assert delivery.deliver_digests().sent == 0  # nothing new, nothing due within two days
    digest_html = text_of(mailbox.to("wang.fang@example.com")[1], "html")
    assert len(re.findall(r'href="https://sw\.example\.com/act/', digest_html)) == 4  # acknowledge, propose per case
    [mine] = re.findall(r'href="https://sw\.example\.com/pages/enter/([^"]+)"', digest_html)  # "my cases", signed
    assert read_my_cases(SECRET, mine, 60) == "wang.fang@example.com"
    subjects = [m["Subject"] for m in mailbox.to("wang.fang@example.com")]
    assert subjects[0].startswith("【Stockwarden】请您审批签名")
    assert subjects[1] == "【Stockwarden】今日案件：新增或变更 2 件，即将到期 0 件，已逾期 0 件"
    with scanned.connect() as connection:
        states = sorted(r.state for r in connection.execute(select(Notification)))
    assert states == ["digested", "digested", "sent"]


def link_of(mail: object, action_label: str) -> str:
    html = text_of(mail, "html")  # type: ignore[arg-type]
    for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', html):
        if label == action_label:
            return href.replace("https://sw.example.com", "")
    raise AssertionError(f"no '{action_label}' link in {html}")


@pytest.mark.asyncio(loop_scope="module")
async def test_links_in_real_messages_act_on_the_case_once_and_only_for_their_person(
        dev: WorkflowEnvironment, scanned: Engine) -> None:
    import httpx

    from api.app import create_app
    from stockwarden.temporal import build_worker, ensure_dispatcher
    from workflows.case import CaseWorkflow
    from workflows.scan import ScanRequest, ScanWorkflow

    env: WorkflowEnvironment = dev
    smtp_port, queue = free_port(), str(uuid.uuid4())
    config, team = settings(smtp_port), parse_people(TEAM, "people.yaml")
    app = create_app(scanned, env.client, config, team)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://sw.example.com")
    with smtp_server(smtp_port) as mailbox:
        async with build_worker(env.client, scanned, queue,
                                notifications=NotificationActivities(scanned, config, team)):
            await ensure_dispatcher(env.client, queue, interval_seconds=0.5, digest_hour=24)
            await env.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}",
                                              task_queue=queue)
            handle = env.client.get_workflow_handle(position_key("HIP-1", "SH01", "zhang.wei@example.com"))
            await until(lambda: mailbox.to("zhang.wei@example.com"), "the owner's message")
            [assigned] = mailbox.to("zhang.wei@example.com")
            acknowledge = link_of(assigned, "确认接收")

            page = await http.get(acknowledge)
            assert page.status_code == 200 and "确认接收" in page.text
            forged = await http.post(acknowledge[:-3] + ("AAA" if not acknowledge.endswith("AAA") else "BBB"))
            assert forged.status_code == 403 and "此链接无效" in forged.text  # whose it is is unknown: the default language
            expired = create_app(scanned, env.client, Settings(**{**config.model_dump(), "link_days": -1}), team)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=expired), base_url="https://x") as late:
                assert "此链接已过期" in (await late.post(acknowledge)).text
            assert (await handle.query(CaseWorkflow.view)).state == "open"  # nothing changed so far

            done = await http.post(acknowledge)
            assert done.status_code == 200 and "您已确认接收该案件" in done.text
            assert (await handle.query(CaseWorkflow.view)).state == "acknowledged"
            again = await http.post(acknowledge)
            assert again.status_code == 410 and "此链接已使用过" in again.text  # in Zhang Wei's language

            # The propose link from the same message opens a form; scrapping two cups needs QA and the committee.
            form = await http.get(link_of(assigned, "提出处置方案"))
            assert 'value="scrap"' in form.text
            proposed = await http.post(link_of(assigned, "提出处置方案"), data={
                "disposition": "scrap", "qty_0": "", "qty_1": "1", "qty_2": "1", "reason": "包装破损"})
            assert proposed.status_code == 200 and "当前状态：待审批" in proposed.text, proposed.text
            await until(lambda: mailbox.to("qa.officer@example.com") and mailbox.to("cfo@example.com"),
                        "the approval requests")  # urgent: they do not wait for a digest
            [request] = mailbox.to("qa.director@example.com")
            assert request["Subject"].startswith("[Stockwarden] Your signature is requested")
            assert "proposes: scrap, value CN¥24,001.00" in text_of(request, "html")

            # Zhang Wei's browser now carries his name; QA's link in his hands is refused.
            qa_link = link_of(mailbox.to("qa.officer@example.com")[0], "批准")
            wrong = await http.post(qa_link)
            assert wrong.status_code == 403 and "此链接发给 qa.officer@example.com" in wrong.text
            from api.pins import set_pin
            set_pin(scanned, "qa.officer@example.com", "271828", by="admin@example.com")
            set_pin(scanned, "cfo@example.com", "314159", by="admin@example.com")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://x") as qa:
                approve_page = await qa.get(qa_link)
                assert 'name="meaning"' in approve_page.text and "已审阅" in approve_page.text
                assert 'name="pin"' in approve_page.text  # a signature needs the signer's PIN, not only the link
                signed = await qa.post(qa_link, data={"meaning": "approved", "reason": "外包装破损已核实", "pin": "271828"})
            assert signed.status_code == 200 and "您的签名已记录" in signed.text
            view = await handle.query(CaseWorkflow.view)
            assert view.proposal is not None
            assert [(s.signer, s.meaning, s.role) for s in view.proposal.signatures] == [
                ("qa.officer@example.com", "approved", "qa")]
            # The CFO rejects; without a reason the case refuses, the form says why and the link still works.
            reject = link_of(mailbox.to("cfo@example.com")[0], "驳回")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://x") as cfo:
                bare = await cfo.post(reject, data={"reason": " ", "pin": "314159"})
                assert bare.status_code == 409 and "a rejection needs a reason" in bare.text
                rejected = await cfo.post(reject, data={"reason": "先尝试退回供应商", "pin": "314159"})
            assert rejected.status_code == 200 and "当前状态：已确认" in rejected.text  # back to its owner
        # The dev server outlives this test; the next one opens the same case id on its own task queue.
        await handle.terminate("test over")
        await env.client.get_workflow_handle("notification-dispatcher").terminate("test over")
    await http.aclose()


def test_a_message_that_keeps_failing_is_flagged_and_the_administrator_told(scanned: Engine) -> None:
    hook_port, smtp_port = free_port(), free_port()
    directory = parse_people(people(free_port()) + f"""\
  - email: admin@example.com
    name: Admin
    roles: [admin]
    language: en
    channels: ["json://127.0.0.1:{hook_port}/ops"]
""", "x")
    delivery = NotificationActivities(scanned, settings(smtp_port), directory)  # no SMTP server listens
    step(scanned, "inventory@example.com")
    with webhook_receiver(hook_port) as hooks:
        for _ in range(5):
            with scanned.begin() as connection:  # each pause is over
                connection.execute(update(Notification).where(col(Notification.recipient) == "inventory@example.com")
                                   .values(next_attempt_at=datetime.now(UTC)))
            delivery.deliver_due()
        with scanned.connect() as connection:
            failing = connection.execute(select(Notification).where(col(Notification.recipient) == "inventory@example.com")).one()
        assert (failing.failing, failing.attempts, failing.state) == (True, 5, "queued")
        assert delivery.deliver_due().sent == 1  # the administrator's alert, over a channel that works
    [alert] = hooks
    assert alert["json"]["title"].startswith("[Stockwarden] A message could not be delivered")
    assert "inventory@example.com (case_assigned) failed 5 times" in alert["json"]["message"]


def test_messages_waiting_for_a_digest_never_crowd_out_the_others(scanned: Engine) -> None:
    """More digest-bound messages than one round takes must not keep a message to someone who reads
    everything at once from going out."""
    from notifications.dispatch import BATCH

    smtp_port = free_port()
    with smtp_server(smtp_port) as mailbox:
        for n in range(BATCH + 5):
            step(scanned, "wang.fang@example.com", case_id=f"case/held/SH01/X-{n}")
        step(scanned, "inventory@example.com", case_id=position_key("HIP-1", "SH01", "zhang.wei@example.com"))
        delivered = NotificationActivities(scanned, settings(smtp_port), parse_people(people(free_port()), "x")).deliver_due()
    assert delivered.sent == 1 and [m["X-Envelope-To"] for m in mailbox.messages] == ["inventory@example.com"]
