"""The pages in a real browser: Debian's Chromium, headless, driven by Selenium through chromedriver,
against the app served by uvicorn on loopback with a real worker on the dev server. Each page is opened,
acted on through its form, checked at a phone's width and saved as a screenshot."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token
from core.case import position_key
from core.settings import Settings
from governance.models import CaseRow
from governance.visibility import Role
from notifications.context import my_cases_url
from notifications.people import parse_people
from stockwarden.temporal import build_worker, free_port
from tests.support.browser import CHROMEDRIVER, CHROMIUM, fits_a_phone, open_browser, shot
from tests.support.data import HIP_POLICY as POLICY

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
PEOPLE = """\
people:
  - email: zhang.wei@example.com
    name: 张伟
    roles: [owner]
    language: zh-CN
"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = open_browser(tmp_path)
    yield driver
    driver.quit()


def _only_local(driver: WebDriver, base: str) -> list[str]:
    """Every resource the page loaded; all must come from the app itself."""
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in loaded if not url.startswith(base)]


@pytest.mark.asyncio(loop_scope="module")
async def test_pages_in_chromium_open_act_and_fit_a_phone(dev: WorkflowEnvironment, scanned: Engine, browser: WebDriver,
                                                          tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from workflows.scan import ScanRequest, ScanWorkflow

    env: WorkflowEnvironment = dev
    driver = browser
    kind = scanned.dialect.name
    port, queue = free_port(), str(uuid.uuid4())
    base = f"http://127.0.0.1:{port}"
    settings = Settings(public_url=base, task_queue=queue, var_dir=tmp_path / "var", secret_key="pages-test")
    app = create_app(scanned, env.client, settings, parse_people(PEOPLE, "people.yaml"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    committee = create_token(scanned, "cfo@example.com", [Role.COMMITTEE])
    compliance = create_token(scanned, "li.na@example.com", [Role.COMPLIANCE])
    viewer = create_token(scanned, "auditor@example.com", [Role.VIEWER])
    serving = asyncio.create_task(server.serve())

    def browse(url: str) -> None:
        driver.get(url)

    def find(css: str) -> WebElement:
        return driver.find_element(By.CSS_SELECTOR, css)

    def press(css: str) -> None:
        """Click a form's button or a link and wait until the next page has loaded in place of this one.
        The old page carries a mark the new one does not (chromedriver's staleness check can fail with
        'Node does not belong to the document' while a page is being replaced)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        driver.execute_script("window.__old_page = true")
        find(css).click()

        def replaced(_: object) -> bool:
            try:
                return bool(driver.execute_script(
                    "return window.__old_page === undefined && document.readyState === 'complete'"))
            except WebDriverException:  # between two pages
                return False

        WebDriverWait(driver, 30).until(replaced)

    def text(css: str) -> str:
        return find(css).text

    def state() -> str:
        return find("#state").get_attribute("data-state") or ""

    def sign_in(token: str) -> None:
        press("form[action='/pages/logout'] button")
        find("#token").send_keys(token)
        press("form[action='/pages/login'] button")

    try:
        async with build_worker(env.client, scanned, queue):
            while not server.started:
                await asyncio.sleep(0.05)
            await env.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=1), id=f"scan-{queue}", task_queue=queue)
            case = position_key("HIP-1", "SH01", "zhang.wei@example.com")
            for _ in range(600):  # the case writes its mirror row in its first activity, just after the scan
                with scanned.connect() as connection:
                    if connection.execute(select(col(CaseRow.id)).where(col(CaseRow.id) == case)).first():
                        break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{case} never reached the case mirror")

            def owner_walk() -> None:
                # The signed "my cases" link from a message signs 张伟 in and lists his cases, in Chinese.
                browse(my_cases_url(settings, "zhang.wei@example.com"))
                assert driver.current_url == f"{base}/pages/cases"
                assert text("h1") == "我的案件"
                assert "髋臼杯积压" in text("#cases")
                # The style sheet applies under the pages' Content-Security-Policy (no inline style is allowed).
                assert driver.execute_script("return getComputedStyle(document.body).maxWidth") == "960px"
                shot(driver, f"my-cases-{kind}.png")
                assert fits_a_phone(driver)
                press(f"#cases a[href='/pages/cases/{case}']")
                assert state() == "open" and text("#state") == "待确认" and "case.opened" in text("#timeline")
                assert {f.get_attribute("data-action") for f in driver.find_elements(By.CSS_SELECTOR, "form[data-action]")} \
                    == {"acknowledge", "propose", "comment"}
                assert fits_a_phone(driver)
                driver.set_window_size(390, 844)
                shot(driver, f"case-phone-{kind}.png")
                driver.set_window_size(1280, 900)
                # Act through the forms: a comment, then the acknowledgement; each is the case's Update.
                find("form[data-action=comment] textarea").send_keys("请调拨到北京")
                press("form[data-action=comment] button")
                assert "您的评论已记录" in text("#notice") and "case.commented" in text("#timeline")
                press("form[data-action=acknowledge] button")
                assert state() == "acknowledged" and "当前状态：已确认" in text("#notice")
                # A proposal the case refuses comes back on the page in the case's own words.
                find("form[data-action=propose] #q0").send_keys("1")
                find("form[data-action=propose] #target").send_keys("NOWHERE")
                press("form[data-action=propose] button")
                assert "refused" in find("#notice").get_attribute("class")  # type: ignore[operator]
                assert state() == "acknowledged"
                shot(driver, f"case-acted-{kind}.png")
                browse(f"{base}/pages/cases/{case}")
                press("a[hreflang=en]")
                assert "Sign out" in text("nav") and "Timeline" in driver.page_source
                assert _only_local(driver, base) == []

            def committee_walk() -> None:
                sign_in(committee)
                browse(f"{base}/pages/kpis?lang=en")
                assert text("h1") == "KPIs"
                assert len(driver.find_elements(By.CSS_SELECTOR, "#kpis tbody tr")) == 17
                assert len(driver.find_elements(By.CSS_SELECTOR, "figure svg")) == 3
                assert driver.find_elements(By.CSS_SELECTOR, "figure svg rect")
                assert fits_a_phone(driver)
                shot(driver, f"kpis-{kind}.png")
                assert _only_local(driver, base) == []

            def compliance_walk() -> None:
                sign_in(compliance)
                browse(f"{base}/pages/policy-preview?lang=en")
                draft = find("#draft")
                driver.execute_script("arguments[0].value = arguments[1]", draft,
                                      POLICY.replace("version: 1", "version: 2").replace("qty: {gt: 0}", "qty: {gt: 1000}"))
                press("form[action^='/pages/policy-preview'] button")
                removed = text("#preview tr[data-group=removed]")
                assert "held" in removed and text("#preview tr[data-group=added]").split()[1] == "0"
                assert "t v1" in text("#against")
                shot(driver, f"policy-preview-{kind}.png")
                driver.execute_script("arguments[0].value = arguments[1]", find("#draft"), "policy: t\nversion: two\n")
                press("form[action^='/pages/policy-preview'] button")
                assert "draft.yaml:2:10" in text("#problems")
                sign_in(viewer)
                browse(f"{base}/pages/policy-preview?lang=en")
                assert "not for your roles (viewer)" in text(".refused")

            await asyncio.to_thread(owner_walk)
            await asyncio.to_thread(committee_walk)
            await asyncio.to_thread(compliance_walk)
            from workflows.case import CaseWorkflow
            view = await env.client.get_workflow_handle(case).query(CaseWorkflow.view)
            assert view.state == "acknowledged" and any("请调拨到北京" in entry for entry in view.timeline)
    finally:
        server.should_exit = True
        await serving
        with contextlib.suppress(RPCError):  # the dev server outlives this test; the next one opens the same case
            await env.client.get_workflow_handle(position_key("HIP-1", "SH01", "zhang.wei@example.com")).terminate("test over")


@pytest.mark.asyncio
async def test_the_case_list_filters_by_sku_site_and_lot(engine: Engine, tmp_path: Path) -> None:
    """The list page's filter form (plain HTTP, no browser): what it was given stays in its fields, and
    only the matching cases are listed; a value no lot can have is refused in the reader's language."""
    import httpx

    from tests.support.cases import position_event, record

    record(engine, position_event("HIP-1", "SH01", [("L1", ""), ("L2", "")]),
           position_event("CAT-1", "SH01", [("L2", "")]), position_event("HIP-1", "BJ02", [("L3", "")]))
    hip_sh01, cat_sh01, hip_bj02 = (position_key(sku, site, "zhang.wei@example.com")
                                    for sku, site in (("HIP-1", "SH01"), ("CAT-1", "SH01"), ("HIP-1", "BJ02")))
    viewer = create_token(engine, "auditor@example.com", [Role.VIEWER])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]  # reading needs no Temporal
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app",
                                 headers={"Authorization": f"Bearer {viewer}"}) as client:

        async def listed(**params: str) -> tuple[str, list[str]]:
            page = await client.get("/pages/cases", params=params)
            assert page.status_code == 200, page.text
            return page.text, [href.split('"')[0] for href in page.text.split('href="/pages/cases/')[1:]]

        text, shown = await listed(lang="en")
        for field in ('<label for="sku">SKU</label>', '<label for="site">Site</label>', '<label for="lot">Lot</label>',
                      'name="lot" value="" maxlength="80"', 'name="site" value="" maxlength="40"'):
            assert field in text
        assert sorted(shown) == [hip_bj02, cat_sh01, hip_sh01]
        text, shown = await listed(lang="en", lot="L2", sku="HIP-1")
        assert shown == [hip_sh01] and 'name="lot" value="L2"' in text and 'name="sku" value="HIP-1"' in text
        assert sorted((await listed(lot="L2"))[1]) == [cat_sh01, hip_sh01]
        assert (await listed(site="BJ02"))[1] == [hip_bj02]
        assert (await listed(lot="L2", state="acknowledged"))[1] == []
        text, _ = await listed(lang="zh-CN", lot="L3")
        assert '<label for="lot">批次</label>' in text and '<label for="sku">料号</label>' in text
        refused = await client.get("/pages/cases", params={"lang": "zh-CN", "lot": "L" * 81})
        assert refused.status_code == 422 and "批次最多 80 个字符" in refused.text
        refused = await client.get("/pages/cases", params={"lang": "en", "site": "SH\x0701"})
        assert refused.status_code == 422 and "Site must not contain control characters" in refused.text
