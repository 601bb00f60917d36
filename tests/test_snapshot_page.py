"""The snapshots page (issue 16): a suspect snapshot is shown with why it is held, in zh-CN and en; a
compliance person accepts or rejects it with a reason through its form, audited as the API's and the
console's decisions are (rules/snapshots.py); a refused decision keeps what the form held; a viewer reads
the list without the forms and a forged post of theirs is refused. In Debian's Chromium, as tests/test_pages.py
drives it, on both databases; the refusals' details over plain HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from sqlalchemy import Engine, select
from sqlmodel import col

from api.app import create_app
from api.auth import create_token
from audit.models import AuditEntry
from audit.trail import verify
from core.settings import Settings
from governance.visibility import Role
from inventory.ingest import ingest
from inventory.metrics import latest_snapshot_id
from inventory.models import Snapshot
from notifications.people import parse_people
from stockwarden.temporal import free_port
from tests.support.browser import CHROMEDRIVER, CHROMIUM, fits_a_phone, open_browser, shot
from tests.support.data import AS_OF, LOT_HEADER, write_export

PEOPLE = """\
people:
  - email: li.na@example.com
    name: 李娜
    roles: [compliance]
    language: zh-CN
"""
ACCEPTED_BECAUSE = "Counted SH01 on 26 Nov: 15 lots of CAT-1 went back to Vasc Co (li.na, with the warehouse)"


def lots(count: int) -> str:
    """`count` lots of CAT-1 (800 CNY a unit, 3 units each) at SH01."""
    return LOT_HEADER + "".join(f"CAT-1,SH01,L{n:03},,3,,2026-01-01,,2028-01-01,,released,\n" for n in range(count))


def three_snapshots(engine: Engine, folder: Path) -> tuple[int, int, int]:
    """An accepted snapshot of 20 lots; the next day's export cut after 5 lots (suspect: 75 % of the positions
    and of the value gone); then a lots file with its header only (suspect: no lots)."""
    first = ingest(engine, write_export(folder / "a", lots=lots(20)), as_of=AS_OF)
    cut = ingest(engine, write_export(folder / "b", lots=lots(5)), as_of=AS_OF + timedelta(days=1))
    empty = ingest(engine, write_export(folder / "c", lots=LOT_HEADER), as_of=AS_OF + timedelta(days=2))
    assert (first.state, cut.state, empty.state) == ("accepted", "suspect", "suspect")
    return first.snapshot_id, cut.snapshot_id, empty.snapshot_id


def stored(engine: Engine, snapshot_id: int) -> Snapshot:
    with engine.connect() as connection:
        return Snapshot.model_validate(connection.execute(
            select(Snapshot).where(col(Snapshot.id) == snapshot_id)).one()._mapping)


def decisions(engine: Engine) -> list[tuple[str, str, str, str]]:
    """The audit trail's snapshot decisions: (actor, action, subject, reason)."""
    with engine.connect() as connection:
        return [(r.actor, r.action, r.subject, r.reason) for r in connection.execute(
            select(AuditEntry).where(col(AuditEntry.action).startswith("snapshot.")).order_by(col(AuditEntry.seq)))]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("Debian's chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    driver = open_browser(tmp_path)
    yield driver
    driver.quit()


@pytest.mark.asyncio
async def test_the_snapshots_page_in_chromium_shows_why_and_takes_a_compliance_decision(
        engine: Engine, browser: WebDriver, tmp_path: Path) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    first, cut, empty = three_snapshots(engine, tmp_path)
    driver, kind = browser, engine.dialect.name
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(public_url=base, task_queue=str(uuid.uuid4()), var_dir=tmp_path / "var",
                        secret_key="snapshot-page-test")
    # The page reads and decides through the database only: no Temporal client is needed to serve it.
    app = create_app(engine, None, settings, parse_people(PEOPLE, "people.yaml"))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    compliance = create_token(engine, "li.na@example.com", [Role.COMPLIANCE])
    viewer = create_token(engine, "auditor@example.com", [Role.VIEWER])
    serving = asyncio.create_task(server.serve())

    def find(css: str) -> WebElement:
        return driver.find_element(By.CSS_SELECTOR, css)

    def found(css: str) -> list[WebElement]:
        return driver.find_elements(By.CSS_SELECTOR, css)

    def text(css: str) -> str:
        return find(css).text

    def press(css: str) -> None:
        """Click and wait until the next page replaced this one (as tests/test_pages.py does)."""
        driver.execute_script("window.__old_page = true")
        find(css).click()

        def replaced(_: object) -> bool:
            try:
                return bool(driver.execute_script(
                    "return window.__old_page === undefined && document.readyState === 'complete'"))
            except WebDriverException:
                return False

        WebDriverWait(driver, 30).until(replaced)

    def sign_in(token: str, page: str) -> None:
        """Open `page` signed out: the sign-in page, then `page` itself once the token is given."""
        driver.delete_all_cookies()
        driver.get(base + page)
        find("#token").send_keys(token)
        press("form[action='/pages/login'] button")
        assert driver.current_url == base + page

    def forged_post(snapshot_id: int) -> tuple[int, str]:
        """A post the page never offered, sent with the browser's session as a script on the page would."""
        status, body = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"fetch('/pages/snapshots/{snapshot_id}/decide?lang=en', {{method: 'POST', headers:"
            " {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'decision=accept&reason=looks+fine'})"
            ".then(r => r.text().then(t => done([r.status, t])))")
        return int(status), str(body)

    def viewer_walk() -> None:
        sign_in(viewer, "/pages/snapshots?lang=en")
        assert text("h1") == "Snapshots" and find("nav a[href='/pages/snapshots']").text == "Snapshots"
        assert find(f"#snapshot-{cut}").get_attribute("data-state") == "suspect"
        assert "15 of the 20 positions with stock in snapshot 1 hold none here" in text(f"#snapshot-{cut} .reasons")
        assert found("form[data-snapshot]") == [] and found("textarea") == []  # reading, not deciding
        status, body = forged_post(cut)
        assert status == 403 and "not for your roles (viewer)" in body
        assert stored(engine, cut).state == "suspect" and decisions(engine) == []

    def compliance_walk() -> None:
        # 李娜 reads Chinese (people.yaml): the states and the guard's reasons in Chinese.
        sign_in(compliance, "/pages/snapshots")
        assert text("h1") == "库存快照" and find("nav a[href='/pages/snapshots']").text == "库存快照"
        assert [s.get_attribute("id") for s in found("#snapshots section")] == \
            [f"snapshot-{empty}", f"snapshot-{cut}", f"snapshot-{first}"]  # newest first
        held = text(f"#snapshot-{cut}")
        assert "可疑：暂停使用" in held and "暂停使用的原因" in held and "2026-11-26" in held
        assert "快照 1 中有库存的 20 个批次库位有 15 个在此没有库存（75.0%，超过 20%）：文件被截断？" in held
        assert "CNY 库存金额从 48,000.00（快照 1）降至 12,000.00" in held
        assert "批次库存 5" in held and "物料 3" in held
        assert "导出没有任何批次库存" in text(f"#snapshot-{empty} .reasons")
        assert "已接受" in text(f"#snapshot-{first}") and "扫描、案件和指标正在使用" in text(f"#snapshot-{first}")
        assert {f.get_attribute("data-snapshot") for f in found("form[data-snapshot]")} == {str(cut), str(empty)}
        assert find(f"#reason-{cut}").get_attribute("required") == "true"
        # The style sheet applies under the pages' Content-Security-Policy.
        assert driver.execute_script("return getComputedStyle(document.body).maxWidth") == "960px"
        shot(driver, f"snapshots-zh-{kind}.png")
        assert fits_a_phone(driver)
        driver.set_window_size(390, 844)
        shot(driver, f"snapshots-phone-zh-{kind}.png")
        driver.set_window_size(1280, 900)
        # A reason of spaces only passes the browser's `required`, and the decision refuses it: the form stays.
        find(f"#reason-{cut}").send_keys("   ")
        press(f"form[data-snapshot='{cut}'] button[value=accept]")
        assert "refused" in (find("#notice").get_attribute("class") or "")
        assert "快照 2 未作决定：必须填写理由（核对了什么、由谁核对）。未做任何更改。" in text("#notice")
        assert find(f"#reason-{cut}").get_attribute("value") == "   "
        assert find(f"#snapshot-{cut}").get_attribute("data-state") == "suspect"
        assert stored(engine, cut).state == "suspect" and decisions(engine) == []
        shot(driver, f"snapshots-refused-zh-{kind}.png")
        # In English: the same snapshot, its state and reasons in English.
        driver.get(f"{base}/pages/snapshots?lang=en")
        held = text(f"#snapshot-{cut}")
        assert "Suspect: held" in held and "Held because" in held
        assert "15 of the 20 positions with stock in snapshot 1 hold none here (75.0 %, more than 20 %)" in held
        assert "the stock value in CNY falls from 48,000.00 (snapshot 1) to 12,000.00" in held
        assert "lots 5" in held and "In use by scans, cases and KPIs" in text(f"#snapshot-{first}")
        shot(driver, f"snapshots-en-{kind}.png")
        find(f"#reason-{cut}").send_keys(ACCEPTED_BECAUSE)
        press(f"form[data-snapshot='{cut}'] button[value=accept]")
        assert "done" in (find("#notice").get_attribute("class") or "")
        assert text("#notice") == "Snapshot 2 (as of 2026-11-26) was accepted: the next scan uses it."
        decided = text(f"#snapshot-{cut}")
        assert find(f"#snapshot-{cut}").get_attribute("data-state") == "accepted"
        assert "Accepted" in decided and "Accepted at (UTC)" in decided and "In use by scans, cases and KPIs" in decided
        assert "Was held because" in decided and ACCEPTED_BECAUSE in decided and "li.na@example.com" in decided
        assert "In use" not in text(f"#snapshot-{first}")
        assert found(f"form[data-snapshot='{cut}']") == []
        # The header-only export is rejected: stored, never used.
        find(f"#reason-{empty}").send_keys("lots.csv came out of the ERP with its header only; re-exported")
        press(f"form[data-snapshot='{empty}'] button[value=reject]")
        assert text("#notice") == "Snapshot 3 (as of 2026-11-27) was rejected: it stays stored and is never used."
        assert find(f"#snapshot-{empty}").get_attribute("data-state") == "rejected"
        assert found("form[data-snapshot]") == [] and found("#decide-help") == []
        assert fits_a_phone(driver)
        shot(driver, f"snapshots-decided-en-{kind}.png")
        driver.set_window_size(390, 844)
        shot(driver, f"snapshots-phone-en-{kind}.png")
        driver.set_window_size(1280, 900)
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert [url for url in loaded if not url.startswith(base)] == []

    try:
        while not server.started:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(viewer_walk)
        await asyncio.to_thread(compliance_walk)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    assert stored(engine, cut).state == "accepted" and stored(engine, cut).decided_by == "li.na@example.com"
    assert stored(engine, empty).state == "rejected"
    with engine.connect() as connection:
        assert latest_snapshot_id(connection) == cut  # the next scan reads the accepted snapshot
        assert verify(connection)[1] == []  # the decisions are links of the one chain
    assert decisions(engine) == [
        ("li.na@example.com", "snapshot.accepted", f"snapshot:{cut}", ACCEPTED_BECAUSE),
        ("li.na@example.com", "snapshot.rejected", f"snapshot:{empty}",
         "lots.csv came out of the ERP with its header only; re-exported")]


@pytest.mark.asyncio
async def test_the_snapshot_forms_refusals_keep_what_was_sent_and_say_it_in_the_readers_language(
        engine: Engine, tmp_path: Path) -> None:
    """Plain HTTP: each refusal answers the page again with its status, the reason put back in its form
    (escaped), nothing changed and nothing audited as a decision; who may not read the page, or not decide,
    is refused as the API refuses them."""
    first, cut, _ = three_snapshots(engine, tmp_path)
    tokens = {role: create_token(engine, "zhang.wei@example.com", [role])
              for role in (Role.COMPLIANCE, Role.ADMIN, Role.VIEWER, Role.OWNER, Role.ERP)}
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]  # no Temporal used
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as client:

        async def post(role: Role, snapshot: object, lang: str = "en", **form: str) -> httpx.Response:
            return await client.post(f"/pages/snapshots/{snapshot}/decide", params={"lang": lang}, data=form,
                                     headers={"Authorization": f"Bearer {tokens[role]}"})

        async def page(role: Role, lang: str = "en") -> httpx.Response:
            return await client.get("/pages/snapshots", params={"lang": lang},
                                    headers={"Authorization": f"Bearer {tokens[role]}"})

        kept = '<textarea id="reason-2" name="reason" rows="3" maxlength="2000" required>'
        answer = await post(Role.COMPLIANCE, cut, "zh-CN", decision="accept", reason="核对了<b>\x07")
        assert answer.status_code == 422 and "理由包含控制字符（换行和制表符除外）" in answer.text
        assert kept + "核对了&lt;b&gt;\x07</textarea>" in answer.text
        answer = await post(Role.COMPLIANCE, cut, decision="maybe", reason="counted")
        assert answer.status_code == 422 and "Choose Accept or Reject; nothing was changed." in answer.text
        assert kept + "counted</textarea>" in answer.text
        answer = await post(Role.COMPLIANCE, cut, decision="accept", reason="x" * 2001)
        assert answer.status_code == 422 and "the reason is longer than 2000 characters" in answer.text
        assert kept + "x" * 2001 + "</textarea>" in answer.text
        answer = await post(Role.COMPLIANCE, cut, decision="accept")
        assert answer.status_code == 422 and "a reason is required" in answer.text
        for absent in ("999999", "0", "２", "1e3", "9" * 40):
            answer = await post(Role.COMPLIANCE, absent, decision="accept", reason="counted")
            assert answer.status_code == 404 and "is no snapshot" in answer.text, absent
        answer = await post(Role.ADMIN, first, decision="accept", reason="counted")
        assert answer.status_code == 409 and "Snapshot 1 was not decided: snapshot 1 is accepted, not suspect" in answer.text
        assert stored(engine, cut).state == "suspect" and decisions(engine) == []
        for role in (Role.VIEWER, Role.ERP, Role.OWNER):  # the roles of the API's accept route only
            answer = await post(role, cut, decision="accept", reason="counted")
            assert answer.status_code == 403 and "This page is not for your roles" in answer.text
        assert stored(engine, cut).state == "suspect" and decisions(engine) == []
        # Who reads it: the roles of GET /snapshots; the navigation links it for them alone.
        for role in (Role.VIEWER, Role.ERP, Role.ADMIN):
            answer = await page(role)
            assert answer.status_code == 200 and 'href="/pages/snapshots"' in answer.text
            assert ('data-snapshot="2"' in answer.text) == (role == Role.ADMIN)
        assert (await page(Role.OWNER)).status_code == 403
        cases = await client.get("/pages/cases", headers={"Authorization": f"Bearer {tokens[Role.OWNER]}"})
        assert cases.status_code == 200 and 'href="/pages/snapshots"' not in cases.text
        # The page never shows where a load came from on the server.
        assert str(tmp_path) not in (await page(Role.ADMIN)).text
        # An admin's decision is the same decision, in the admin's name.
        answer = await post(Role.ADMIN, cut, "zh-CN", decision="reject", reason="导出被截断")
        assert answer.status_code == 200 and "快照 2（数据日期 2026-11-26）已拒绝：它将保留，但不会被使用。" in answer.text
        assert decisions(engine) == [("zhang.wei@example.com", "snapshot.rejected", "snapshot:2", "导出被截断")]
