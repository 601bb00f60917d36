"""The API over real HTTP semantics (httpx against the ASGI app), real database: every route with every
role gets exactly the allowed answer; refusals are audited; the pack downloads and reads back."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import create_token
from audit.trail import entries
from core.case import position_key
from core.settings import Settings
from governance.visibility import Role
from tests.support.cases import position_event, record

ROUTES = {  # route -> the roles that may call it
    "/cases": {"admin", "viewer", "compliance", "committee", "qa", "owner"},
    "/cases/case/idle/SH01/HIP-1": {"admin", "viewer", "compliance", "committee", "qa", "owner"},
    "/kpis/2026-11": {"admin", "committee", "viewer", "compliance"},
    "/packs/2026-11": {"admin", "committee"},
    "/tokens": {"admin"},
}


@pytest.fixture
def api(governed: Engine, tmp_path: Path) -> tuple[Engine, httpx.AsyncClient, dict[str, str]]:
    tokens = {role.value: create_token(governed, "zhang.wei@example.com", [role]) for role in Role}
    app = create_app(governed, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]  # no Temporal needed here
    return governed, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api"), tokens


@pytest.mark.asyncio
async def test_every_route_answers_exactly_the_roles_it_states(api: tuple[Engine, httpx.AsyncClient, dict[str, str]]) -> None:
    engine, client, tokens = api
    async with client:
        for route, allowed in ROUTES.items():
            assert (await client.get(route)).status_code == 401
            bogus = await client.get(route, headers={"Authorization": "Bearer sw_not-a-token"})
            assert bogus.status_code == 401
            for role, token in tokens.items():
                answer = await client.get(route, headers={"Authorization": f"Bearer {token}"})
                assert (answer.status_code == 200) == (role in allowed), (route, role, answer.status_code, answer.text)
                if role not in allowed:
                    assert answer.status_code == 403 and "needs one of the roles" in answer.json()["detail"]
        assert (await client.get("/health")).json() == {"status": "ok"}
    with engine.connect() as connection:
        refusals = [e for e in entries(connection, limit=10_000) if e.action == "api.refused"]
    forbidden = sum(len(set(tokens) - allowed) for allowed in ROUTES.values())
    assert len(refusals) == forbidden  # each 403; a call without a valid token names nobody: counted, not chained
    from sqlalchemy import func, select

    from api.models import RefusalCount
    with engine.connect() as connection:
        anonymous = connection.execute(select(func.sum(col(RefusalCount.count))).where(col(RefusalCount.reason) == "no valid token")).scalar()
    assert anonymous == 2 * len(ROUTES)


@pytest.mark.asyncio
async def test_cases_page_filter_and_owners_see_their_own(api: tuple[Engine, httpx.AsyncClient, dict[str, str]],
                                                          governed: Engine) -> None:
    engine, client, tokens = api
    stranger = create_token(engine, "someone.else@example.com", [Role.OWNER])
    async with client:
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        first = (await client.get("/cases", params={"limit": 1}, headers=viewer)).json()
        second = (await client.get("/cases", params={"limit": 1, "cursor": first["next_cursor"]}, headers=viewer)).json()
        assert [c["workflow_id"] for c in first["items"] + second["items"]] == ["case/idle/SH01/CAT-1", "case/idle/SH01/HIP-1"]
        overdue = (await client.get("/cases", params={"overdue": True}, headers=viewer)).json()["items"]
        cat_overdue = datetime.now(UTC) > datetime(2026, 11, 27, tzinfo=UTC)  # its acknowledge deadline
        assert [c["workflow_id"] for c in overdue] == ["case/idle/SH01/CAT-1"] * cat_overdue + ["case/idle/SH01/HIP-1"]
        mine = (await client.get("/cases", headers={"Authorization": f"Bearer {tokens['owner']}"})).json()["items"]
        assert len(mine) == 2  # zhang.wei owns both
        theirs = await client.get("/cases", headers={"Authorization": f"Bearer {stranger}"})
        assert theirs.json()["items"] == []
        hidden = await client.get("/cases/case/idle/SH01/HIP-1", headers={"Authorization": f"Bearer {stranger}"})
        assert hidden.status_code == 404
        detail = (await client.get("/cases/case/idle/SH01/HIP-1", headers=viewer)).json()
        assert detail["audit"][0]["action"] == "case.opened"
        assert detail["acknowledge_due"] == "2026-11-05T00:00:00+00:00"  # UTC, said so, on both databases
        assert (await client.get("/cases", params={"limit": 0}, headers=viewer)).status_code == 422

        async def walk(**params: str | int | bool) -> list[str]:
            seen, cursor = [], None
            while True:
                page = (await client.get("/cases", params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})},
                                         headers=viewer)).json()
                seen += [c["workflow_id"] for c in page["items"]]
                if (cursor := page["next_cursor"]) is None:
                    return seen
        assert await walk(sort="resolve_due", descending=True) == ["case/idle/SH01/CAT-1", "case/idle/SH01/HIP-1"]
        assert await walk(sort="value", descending=True) == ["case/idle/SH01/HIP-1", "case/idle/SH01/CAT-1"]  # a tie: by id
        assert await walk(sort="opened_at") == ["case/idle/SH01/HIP-1", "case/idle/SH01/CAT-1"]
        assert await walk(category="implant") == ["case/idle/SH01/CAT-1", "case/idle/SH01/HIP-1"]  # both are HIP-1 here
        assert await walk(category="catheter") == []
        assert await walk(due_before="2026-11-10T00:00:00Z") == ["case/idle/SH01/HIP-1"]
        wrong = await client.get("/cases", params={"sort": "value", "cursor": first["next_cursor"]}, headers=viewer)
        assert wrong.status_code == 422 and "was not handed out" in wrong.json()["detail"]
        assert (await client.get("/cases", params={"sort": "owner"}, headers=viewer)).status_code == 422
        found = (await client.get("/findings", params={"rule": "idle", "limit": 1}, headers=viewer)).json()
        assert found["items"][0]["rule"] == "idle" and found["next_cursor"] == found["items"][0]["id"]
        rest = (await client.get("/findings", params={"rule": "idle", "cursor": found["next_cursor"]}, headers=viewer)).json()
        assert found["items"][0]["id"] not in [f["id"] for f in rest["items"]]
        assert (await client.get("/findings", headers={"Authorization": f"Bearer {tokens['owner']}"})).status_code == 403


@pytest.mark.asyncio
async def test_the_committee_downloads_the_pack(api: tuple[Engine, httpx.AsyncClient, dict[str, str]]) -> None:
    _, client, tokens = api
    committee = {"Authorization": f"Bearer {tokens['committee']}"}
    async with client:
        answer = await client.get("/packs/2026-11", params={"lang": "en"}, headers=committee)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert load_workbook(io.BytesIO(answer.content)).sheetnames[0] == "Summary"
        assert (await client.get("/packs/2026-13", headers=committee)).status_code == 422
        assert (await client.get("/packs/2025-01", headers=committee)).status_code == 404


@pytest.mark.asyncio(loop_scope="module")
async def test_case_actions_reach_the_case_workflow_in_the_callers_name(dev: WorkflowEnvironment, scanned: Engine) -> None:
    """On the dev server: the API's actions are the case's Updates; its refusals come back as 409."""
    import uuid

    from stockwarden.temporal import build_worker
    from workflows.case import CaseWorkflow

    env: WorkflowEnvironment = dev
    queue = str(uuid.uuid4())
    owner = create_token(scanned, "zhang.wei@example.com", [Role.OWNER])
    stranger = create_token(scanned, "someone.else@example.com", [Role.OWNER])
    viewer = create_token(scanned, "zhang.wei@example.com", [Role.VIEWER])
    admin = create_token(scanned, "admin@example.com", [Role.ADMIN])
    app = create_app(scanned, env.client, Settings(task_queue=queue))
    case = position_key("HIP-1", "SH01", "zhang.wei@example.com")
    async with build_worker(env.client, scanned, queue), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        scanning = await client.post("/scans", params={"wait": True, "partitions": 1}, headers={"Authorization": f"Bearer {admin}"})
        assert scanning.status_code == 202, scanning.text
        assert scanning.json()["summary"]["cases"] >= 1 and scanning.json()["workflow_id"].startswith("scan-")
        handle = env.client.get_workflow_handle(case)
        as_owner = {"Authorization": f"Bearer {owner}"}
        from sqlalchemy import select

        from governance.models import CaseRow
        from tests.support.cases import until

        def mirrored() -> bool:  # who may act is read from the mirror, which the case writes just after the scan
            with scanned.connect() as connection:
                return connection.execute(select(col(CaseRow.id)).where(col(CaseRow.id) == case)).first() is not None
        await until(mirrored, "the case mirror")
        assert (await client.post(f"/cases/{case}/acknowledge", headers={"Authorization": f"Bearer {viewer}"})).status_code == 403
        refused = await client.post(f"/cases/{case}/acknowledge", headers={"Authorization": f"Bearer {stranger}"})
        assert refused.status_code == 404 and refused.json()["detail"] == f"no case {case}"  # not his: not even named
        done = await client.post(f"/cases/{case}/acknowledge", headers=as_owner)
        assert done.status_code == 200 and done.json()["result"] == "acknowledged"
        assert (await client.post(f"/cases/{case}/comment", json={"text": ""}, headers=as_owner)).status_code == 422
        assert (await client.post(f"/cases/{case}/comment", json={"text": "调拨到北京"}, headers=as_owner)).status_code == 200
        proposal = {"disposition": "return_to_supplier", "lines": [{"lot": "L1", "serial": "S1", "quantity": "1"}]}
        late = await client.post(f"/cases/{case}/propose", json=proposal, headers=as_owner)
        assert late.status_code == 409 and "return window closed" in late.json()["detail"]
        missing = await client.post("/cases/case/held/XX/NOPE/acknowledge", headers=as_owner)
        assert missing.status_code == 404
        assert (await handle.query(CaseWorkflow.view)).state == "acknowledged"
        await handle.terminate("test over")  # the dev server outlives this test


@pytest.mark.asyncio(loop_scope="module")
async def test_the_erp_confirms_part_of_an_instruction_and_the_rest_stays_governed(dev: WorkflowEnvironment,
                                                                                 lot_of_42: Engine) -> None:
    """On the dev server: the ERP posted 30 of the 42 it was told to scrap and says so; the instruction
    records 30 and the case's line keeps 12, back with its owner. More than is open is refused in the
    reader's language through either door (the outbox's and the case's), and changes nothing."""
    import uuid
    from decimal import Decimal

    from stockwarden.temporal import build_worker
    from tests.support.cases import instructed_42, instructions, mirror, trail

    queue = str(uuid.uuid4())
    erp = {"Authorization": f"Bearer {create_token(lot_of_42, 'erp-bot@example.com', [Role.ERP])}"}
    app = create_app(lot_of_42, dev.client, Settings(task_queue=queue))
    async with build_worker(dev.client, lot_of_42, queue), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        handle, instruction = await instructed_42(dev.client, lot_of_42, queue)
        assert instruction.quantity == 42
        outbox, case = f"/outbox/{instruction.id}/confirm", f"/cases/{handle.id}/confirm"
        too_much = await client.post(outbox, params={"lang": "en"}, json={"quantity": "43"}, headers=erp)
        assert too_much.status_code == 409, too_much.text
        assert too_much.json()["detail"] == (f"instruction {instruction.id} has 42 still open, less than the 43 "
                                             "confirmed; confirm at most 42 (leave out the quantity to confirm all of it)")
        in_chinese = await client.post(case, params={"lang": "zh-CN"}, json={"instruction": instruction.id,
                                                                            "quantity": 42.5}, headers=erp)
        assert in_chinese.status_code == 409 and in_chinese.json()["detail"] == (
            f"指令 {instruction.id} 尚余 42 未完成，少于确认的 42.5；最多确认 42（不填数量即确认全部）")
        for wrong in ("0", -3, "thirty", "NaN"):
            assert (await client.post(outbox, json={"quantity": wrong}, headers=erp)).status_code == 422, wrong
            assert (await client.post(case, json={"instruction": instruction.id, "quantity": wrong},
                                      headers=erp)).status_code == 422, wrong
        [unchanged] = instructions(lot_of_42, handle.id)
        assert (unchanged.state, unchanged.done) == ("pending", None)
        assert mirror(lot_of_42, handle.id).state == "awaiting_confirmation"
        assert "instruction.confirmed" not in trail(lot_of_42, handle.id)

        part = await client.post(outbox, json={"quantity": "30", "note": "GRN-1188: 12 not found"}, headers=erp)
        assert part.status_code == 200, part.text
        assert part.json() == {"instruction": instruction.id, "case": handle.id, "state": "acknowledged"}
    [confirmed] = instructions(lot_of_42, handle.id)
    assert (confirmed.state, confirmed.done, confirmed.confirmed_by) == ("confirmed", 30, "erp-bot@example.com")
    row = mirror(lot_of_42, handle.id)
    assert row.state == "acknowledged" and row.proposal is None
    assert [(line["lot"], Decimal(line["quantity"])) for line in row.lines] == [("R1", Decimal(12))]  # still governed
    await handle.terminate("test over")  # the dev server outlives this test


def _flat(routes: list) -> list:
    """FastAPI (0.165) keeps an included router's routes behind a wrapper; unwrap them."""
    flat = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat.extend(_flat(inner.routes) if inner is not None else [route])
    return flat


ANY_READER = {"admin", "committee", "compliance", "owner", "qa", "viewer"}
"""Every role that reads cases (all but the ERP's)."""
ROLE_MATRIX: dict[tuple[str, str], set[str]] = {
    # The cases: read by every reader, acted on by the roles each action is for.
    ("GET", "/cases"): ANY_READER,
    ("GET", "/cases/{case_id:path}"): ANY_READER,
    ("POST", "/cases/{case_id:path}/acknowledge"): {"admin", "owner"},
    ("POST", "/cases/{case_id:path}/comment"): {"admin", "committee", "owner", "qa"},
    ("POST", "/cases/{case_id:path}/reassign"): {"admin", "owner"},
    ("POST", "/cases/{case_id:path}/snooze"): {"admin", "owner"},
    ("POST", "/cases/{case_id:path}/propose"): {"admin", "owner"},
    ("POST", "/cases/{case_id:path}/sign"): {"admin", "committee", "owner", "qa"},
    ("POST", "/cases/{case_id:path}/confirm"): {"admin", "erp"},
    ("POST", "/cases/{case_id:path}/cancel"): {"committee"},
    ("GET", "/findings"): {"admin", "committee", "compliance", "qa", "viewer"},
    ("POST", "/scans"): {"admin", "compliance"},
    # Reports.
    ("GET", "/kpis/{period}"): {"admin", "committee", "compliance", "viewer"},
    ("GET", "/packs/{period}"): {"admin", "committee"},
    # The audit trail.
    ("GET", "/audit"): {"admin", "committee", "compliance"},
    ("GET", "/audit/verify"): {"admin", "committee", "compliance"},
    # What the ERP sends and reads.
    ("GET", "/snapshots"): {"admin", "committee", "compliance", "erp", "viewer"},
    ("POST", "/snapshots"): {"admin", "erp"},
    ("POST", "/snapshots/records"): {"admin", "erp"},
    ("POST", "/snapshots/{snapshot_id}/accept"): {"admin", "compliance"},
    ("POST", "/snapshots/{snapshot_id}/reject"): {"admin", "compliance"},
    ("POST", "/movements"): {"admin", "erp"},
    ("POST", "/movements/records"): {"admin", "erp"},
    ("GET", "/outbox"): {"admin", "committee", "erp", "viewer"},
    ("POST", "/outbox/{instruction_id}/confirm"): {"admin", "erp"},
    # Policies.
    ("GET", "/policies"): {"admin", "committee", "compliance", "viewer"},
    ("GET", "/policies/diff"): {"admin", "committee", "compliance", "viewer"},
    ("GET", "/policies/pending"): {"admin", "committee", "compliance", "viewer"},
    ("POST", "/policies/validate"): {"admin", "compliance"},
    ("POST", "/policies/preview"): {"admin", "compliance"},
    ("POST", "/policies/activate"): {"admin", "compliance"},
    ("POST", "/policies/pending/{pending_id}/approve"): {"admin", "compliance"},
    ("POST", "/policies/pending/{pending_id}/reject"): {"admin", "compliance"},
    # People and tokens.
    ("GET", "/people"): {"admin", "committee", "compliance"},
    ("PUT", "/people"): {"admin"},
    ("GET", "/tokens"): {"admin"},
    ("POST", "/tokens"): {"admin"},
    ("POST", "/tokens/{token_id}/revoke"): {"admin"},
    # The pages: a page takes the roles of the routes it shows; what a case page's form may do is
    # checked again per action (test_pages_take_a_token_for_any_name).
    ("GET", "/pages/cases"): ANY_READER,
    ("GET", "/pages/cases/{case_id:path}"): ANY_READER,
    ("POST", "/pages/cases/{case_id:path}/act"): ANY_READER,
    ("GET", "/pages/kpis"): {"admin", "committee", "compliance", "viewer"},
    ("GET", "/pages/packs/{period}"): {"admin", "committee"},
    ("GET", "/pages/policy-preview"): {"admin", "compliance"},
    ("POST", "/pages/policy-preview"): {"admin", "compliance"},
    ("GET", "/pages/snapshots"): {"admin", "committee", "compliance", "erp", "viewer"},
    ("POST", "/pages/snapshots/{snapshot_id}/decide"): {"admin", "compliance"},
}
"""Every route that needs a role (method, path) -> the roles allowed, written out as the routes allow them
(8936bd9), so a changed role set in the code fails the role-matrix test instead of being read from it."""
PUBLIC = {("GET", "/"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/act/{token}"), ("POST", "/act/{token}"),
          ("GET", "/pages/enter/{token}"), ("GET", "/pages/login"), ("POST", "/pages/login"),
          ("POST", "/pages/logout"), ("GET", "/pages/pin"), ("POST", "/pages/pin")}
"""Routes anyone may call: the signed links carry their own proof, sign-in and the PIN page take a token
in their form."""
NOT_API = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}
"""FastAPI's schema and docs, and the pages' static files: no route of ours behind them."""


@pytest.mark.asyncio(loop_scope="module")
async def test_every_route_states_its_roles_and_refuses_all_others(dev: WorkflowEnvironment, governed: Engine,
                                                                   tmp_path: Path) -> None:
    """The app's routes are exactly those of ROLE_MATRIX and PUBLIC, so a new route without an entry
    fails here; each states one role guard. The roles of the table get past the role check (whatever the
    route then answers: 404 for a case that does not exist, 422 for an empty body); every other role gets
    403."""
    from fastapi.routing import APIRoute

    env: WorkflowEnvironment = dev
    tokens = {role.value: create_token(governed, "zhang.wei@example.com", [role]) for role in Role}
    app = create_app(governed, env.client, Settings(var_dir=tmp_path / "var", people_file=tmp_path / "people.yaml"))
    routes = _flat(app.routes)
    assert {route.path for route in routes if not isinstance(route, APIRoute)} == NOT_API
    api_routes = {(method, route.path): route for route in routes if isinstance(route, APIRoute)
                  for method in route.methods or ()}
    assert set(api_routes) - PUBLIC - set(ROLE_MATRIX) == set(), "routes missing from ROLE_MATRIX"
    assert (set(ROLE_MATRIX) | PUBLIC) - set(api_routes) == set(), "routes in the table the app does not have"
    assert not set(ROLE_MATRIX) & PUBLIC
    assert set().union(*ROLE_MATRIX.values()) <= set(tokens)  # no role the service does not know
    walked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        for (method, route_path), allowed in sorted(ROLE_MATRIX.items()):
            guards = [d.call for d in api_routes[method, route_path].dependant.dependencies if hasattr(d.call, "roles")]
            assert len(guards) == 1, f"{method} {route_path} states no roles"
            path = route_path.replace("{case_id:path}", "case/none/XX/NOPE").replace("{period}", "2026-11") \
                .replace("{token_id}", "999999").replace("{snapshot_id}", "999999")
            for role, token in tokens.items():
                answer = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
                if role in allowed:
                    assert answer.status_code not in (401, 403, 500), (method, path, role, answer.text)
                else:
                    assert answer.status_code == 403, (method, path, role, answer.status_code)
            walked += 1
    assert walked == len(ROLE_MATRIX) == 47


PAGE_FORM_ROLES: dict[str, set[str]] = {
    "acknowledge": {"admin", "owner"},
    "propose": {"admin", "owner"},
    "comment": {"admin", "committee", "owner", "qa"},
    "approve": {"admin", "committee", "owner", "qa"},
    "reject": {"admin", "committee", "owner", "qa"},
}
"""The case page's forms (POST /pages/cases/{id}/act) and who may send each, written out as ROLE_MATRIX is."""


def test_the_case_page_forms_take_the_roles_written_here_and_those_of_their_routes() -> None:
    """A changed role set of a page form fails here, and so does a form whose roles drift from the
    API route it stands for (approve and reject are signatures)."""
    from api.actions import PAGE_ACTION_ROLES

    assert {action: {role.value for role in roles} for action, roles in PAGE_ACTION_ROLES.items()} == PAGE_FORM_ROLES
    route = {"acknowledge": "acknowledge", "propose": "propose", "comment": "comment", "approve": "sign", "reject": "sign"}
    for action, roles in PAGE_FORM_ROLES.items():
        assert roles == ROLE_MATRIX["POST", f"/cases/{{case_id:path}}/{route[action]}"], action


@pytest.mark.asyncio
async def test_policies_and_the_audit_trail_over_http(api: tuple[Engine, httpx.AsyncClient, dict[str, str]]) -> None:
    from tests.support.data import KPI_POLICY as POLICY

    engine, client, tokens = api
    compliance = {"Authorization": f"Bearer {tokens['compliance']}", "Content-Type": "application/yaml"}
    async with client:
        bad = await client.post("/policies/validate", params={"name": "policies/kpi.yaml"}, headers=compliance,
                                content=POLICY.replace("days_since_movement", "dwel_days").encode())
        assert bad.status_code == 422
        [problem] = bad.json()["problems"]
        assert (problem["line"], problem["column"]) == (10, 12) and "did you mean 'days_since_movement'" in problem["message"]
        good = await client.post("/policies/validate", headers=compliance, content=POLICY.encode())
        assert good.json() == {"valid": True, "policy": "kpi", "version": 1, "rules": 3}
        viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
        stored = (await client.get("/findings", params={"limit": 1000}, headers=viewer)).json()["items"]
        by_rule = {rule: sum(f["rule"] == rule for f in stored) for rule in {f["rule"] for f in stored}}
        same = (await client.post("/policies/preview", headers=compliance, content=POLICY.encode())).json()
        assert (same["added"]["findings"], same["removed"]["findings"], same["kept"]["by_rule"]) == (0, 0, by_rule)
        stricter = POLICY.replace("version: 1", "version: 2").replace("gte: 365", "gte: 100000")
        preview = (await client.post("/policies/preview", headers=compliance, content=stricter.encode())).json()
        assert preview["removed"]["by_rule"] == {"idle": by_rule["idle"]} and preview["added"]["findings"] == 0
        assert preview["removed"]["value"] == sum(f["value"] for f in stored if f["rule"] == "idle")
        assert preview["draft"] == {"policy": "kpi", "version": 2} and preview["active"] == {"policy": "kpi", "version": 1}
        broken = await client.post("/policies/preview", headers=compliance, content=POLICY.replace("version: 1", "version: one").encode())
        assert broken.status_code == 422 and broken.json()["problems"][0]["line"] == 2
        refused = await client.post("/policies/activate", headers=compliance, content=POLICY.replace("version: 1", "version: 2")
                                    .replace("severity: medium", "severity: mediun").encode())
        assert refused.status_code == 422
        assert [v["version"] for v in (await client.get("/policies", headers=compliance)).json()] == [1]  # nothing replaced
        v2 = POLICY.replace("version: 1", "version: 2").replace("gte: 365", "gte: 400")
        activated = await client.post("/policies/activate", headers=compliance, content=v2.encode())
        assert activated.json() == {"policy": "kpi", "version": 2, "changed": True}
        clash = await client.post("/policies/activate", headers=compliance,
                                  content=v2.replace("gte: 400", "gte: 500").encode())
        assert clash.status_code == 409 and "raise the version number" in clash.json()["detail"]
        diff = await client.get("/policies/diff", params={"a": "1", "b": "kpi@2"}, headers=compliance)
        assert diff.status_code == 200 and "changed: idle" in diff.json()["diff"]
        assert (await client.get("/policies/diff", params={"a": "/etc/passwd", "b": "2"}, headers=compliance)).status_code == 422
        auditor = {"Authorization": f"Bearer {tokens['committee']}"}
        trail = (await client.get("/audit", params={"actor": "zhang.wei@example.com"}, headers=auditor)).json()
        assert [e["action"] for e in trail] == ["policy.activate"]  # the compliance token belongs to zhang.wei
        assert (await client.get("/audit/verify", headers=auditor)).json()["intact"] is True
        first = await client.get("/audit", params={"limit": 2}, headers=auditor)
        rest = await client.get("/audit", params={"after": first.headers["x-next-after"]}, headers=auditor)
        everything = (await client.get("/audit", headers=auditor)).json()
        assert [e["seq"] for e in first.json() + rest.json()] == [e["seq"] for e in everything]
        assert "x-next-after" not in rest.headers
    with engine.begin() as connection:  # tamper with one entry, as someone with database access could
        from sqlalchemy import text
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
            connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
        else:
            triggers = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entry'")).all()
            for name, _ in triggers:
                connection.execute(text(f"DROP TRIGGER {name}"))
            connection.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
    async with httpx.AsyncClient(transport=client._transport, base_url="http://api") as again:  # noqa: SLF001
        verdict = (await again.get("/audit/verify", headers={"Authorization": f"Bearer {tokens['admin']}"})).json()
    assert verdict["intact"] is False and verdict["breaks"][0].startswith("entry 2:")


@pytest.mark.asyncio
async def test_the_erp_posts_snapshots_and_movements(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from inventory.models import LotPosition
    from rules.scan import scan
    from rules.versions import activate
    from tests.support.data import KPI_LOTS as LOTS
    from tests.support.data import KPI_POLICY as POLICY
    from tests.support.data import MATERIALS

    erp = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {erp}"}
    bad_lots = LOTS + "CAT-1,SH01,Z,,-4,,2026-01-01,,2027-01-01,,released,\n"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        refused = await client.post("/snapshots", headers=headers, data={"as_of": "2026-11-25"},
                                    files=[("files", ("materials.csv", MATERIALS.encode())), ("files", ("lots.csv", bad_lots.encode()))])
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"file": "lots.csv", "row": 6, "column": "qty", "message": "-4 is negative"}]
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(LotPosition)).scalar_one() == 0  # nothing stored
        loaded = await client.post("/snapshots", headers=headers, data={"as_of": "2026-11-25"},
                                   files=[("files", ("materials.csv", MATERIALS.encode())), ("files", ("lots.csv", LOTS.encode()))])
        assert loaded.status_code == 200 and loaded.json()["row_counts"]["lots"] == 4
        assert (await client.post("/snapshots", headers=headers, files=[("files", ("x.exe", b"MZ"))])).status_code == 422
        (tmp_path / "kpi.yaml").write_text(POLICY, encoding="utf-8")
        activate(engine, tmp_path / "kpi.yaml", actor="test")
        scan(engine)
        moved = "sku,site,lot,serial,type,qty,uom,moved_on,reference\nCAT-1,SH01,B,,issue,5,,2026-11-25,SO-77\n"
        applied = await client.post("/movements", headers=headers, files={"file": ("movements.csv", moved.encode())})
        assert applied.status_code == 200, applied.text
        cleared = applied.json()["cleared"]
        assert {"rule": "idle", "sku": "CAT-1", "site": "SH01", "lot": "B", "serial": ""} in cleared  # lot B left
        again = await client.post("/movements", headers=headers, files={"file": ("movements.csv", moved.encode())})
        assert again.status_code == 409 and "already applied" in again.json()["detail"]
        history = (await client.get("/snapshots", headers=headers)).json()
        assert [s["loaded_by"] for s in history] == ["erp@example.com"]


def _records(text: str) -> list[dict[str, str]]:
    import csv

    return [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(io.StringIO(text))]


@pytest.mark.asyncio
async def test_the_erp_posts_json_records(engine: Engine, tmp_path: Path) -> None:
    """The same ingest contract as JSON: a bad record is named by its list and place, nothing is stored."""
    from sqlalchemy import func, select

    from inventory.models import LotPosition
    from rules.scan import scan
    from rules.versions import activate
    from tests.support.data import KPI_LOTS as LOTS
    from tests.support.data import KPI_POLICY as POLICY
    from tests.support.data import MATERIALS

    erp = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {erp}"}
    materials, lots = _records(MATERIALS), _records(LOTS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        bad = [*lots, {"sku": "CAT-1", "site": "SH01", "lot": "Z", "qty": -4, "received_on": "2026-01-01"}]
        refused = await client.post("/snapshots/records", headers=headers,
                                    json={"as_of": "2026-11-25", "materials": materials, "lots": bad})
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"file": "snapshot.json[lots]", "row": 5, "column": "qty",
                                             "message": "-4 is negative"}]
        nested = await client.post("/snapshots/records", headers=headers,
                                   json={"materials": materials, "lots": [{"sku": ["HIP-1"]}]})
        assert nested.status_code == 422 and "lots" in str(nested.json()["detail"][0]["loc"])
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(LotPosition)).scalar_one() == 0
        loaded = await client.post("/snapshots/records", headers=headers,
                                   json={"as_of": "2026-11-25", "materials": materials, "lots": lots})
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["row_counts"]["lots"] == 4 and loaded.json()["as_of"] == "2026-11-25"
        (tmp_path / "kpi.yaml").write_text(POLICY, encoding="utf-8")
        activate(engine, tmp_path / "kpi.yaml", actor="test")
        scan(engine)
        unknown = await client.post("/movements/records", headers=headers, json={"movements": [
            {"sku": "NOPE-9", "site": "SH01", "type": "issue", "qty": 1, "moved_on": "2026-11-25"}]})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["file"] == "movements.json[movements]"
        applied = await client.post("/movements/records", headers=headers, json={"movements": [
            {"sku": "CAT-1", "site": "SH01", "lot": "B", "type": "issue", "qty": 5, "moved_on": "2026-11-25",
             "reference": "SO-77"}]})
        assert applied.status_code == 200, applied.text
        assert {"rule": "idle", "sku": "CAT-1", "site": "SH01", "lot": "B", "serial": ""} in applied.json()["cleared"]
        assert (await client.post("/movements/records", headers=headers, json={"movements": []})).status_code == 422


@pytest.mark.asyncio
async def test_pages_take_a_token_for_any_name(api: tuple[Engine, httpx.AsyncClient, dict[str, str]]) -> None:
    """`stockwarden up` creates its admin token for admin@localhost, not an address people.yaml would
    accept; the pages still open, in the default language (found by opening the KPI page after `up`)."""
    engine, client, _ = api
    token = create_token(engine, "admin@localhost", [Role.ADMIN])
    async with client:
        page = await client.get("/pages/kpis", params={"period": "2026-11"}, headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200 and "<h1>指标</h1>" in page.text and page.text.count("<svg") == 3
        english = await client.get("/pages/kpis", params={"period": "2026-11", "lang": "en"},
                                   headers={"Authorization": f"Bearer {token}"})
        assert "<h1>KPIs</h1>" in english.text and "Obsolete-stock ratio" in english.text
        pack = await client.get("/pages/packs/2026-11", headers={"Authorization": f"Bearer {token}"})
        assert load_workbook(io.BytesIO(pack.content)).sheetnames[0] == "摘要"  # the pack in the reader's language
        cases = await client.get("/pages/cases", headers={"Authorization": f"Bearer {token}"})
        assert cases.status_code == 200 and "case/idle/SH01/HIP-1" in cases.text
        asked = await client.get("/pages/kpis", params={"period": "2026-11"})
        assert asked.status_code == 401 and 'name="next" value="/pages/kpis?period=2026-11"' in asked.text  # sign in first
        signed = await client.post("/pages/login", data={"token": token, "next": "/pages/kpis?period=2026-11"})
        assert signed.status_code == 303 and signed.headers["location"] == "/pages/kpis?period=2026-11"
        assert (await client.get("/pages/kpis", params={"period": "2026-11"})).status_code == 200  # the session cookie
        away = await client.post("/pages/login", data={"token": token, "next": "https://evil.example.com/"})
        assert away.headers["location"] == "/pages/cases"  # never sent elsewhere
        wrong = await client.post("/pages/login", data={"token": "sw_nope"})
        assert wrong.status_code == 401 and "此令牌无效" in wrong.text
        viewer = {"Authorization": f"Bearer {create_token(engine, 'zhang.wei@example.com', [Role.VIEWER])}"}
        page = await client.get("/pages/cases/case/idle/SH01/HIP-1", headers=viewer)
        assert page.status_code == 200 and "data-action=" not in page.text  # his case, but a viewer's token offers no forms
        refused = await client.post("/pages/cases/case/idle/SH01/HIP-1/act", data={"action": "acknowledge"}, headers=viewer)
        assert refused.status_code == 403 and "viewer" in refused.text
        stranger = {"Authorization": f"Bearer {create_token(engine, 'someone@example.com', [Role.OWNER])}"}
        hidden = await client.post("/pages/cases/case/idle/SH01/HIP-1/act", data={"action": "comment"}, headers=stranger)
        assert hidden.status_code == 404  # not his case: nothing is sent to it


@pytest.mark.asyncio
async def test_admins_list_create_and_revoke_tokens_and_an_expired_token_is_refused(engine: Engine, tmp_path: Path) -> None:
    from datetime import timedelta

    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    admin = {"Authorization": f"Bearer {create_token(engine, 'admin@example.com', [Role.ADMIN], by='ops')}"}
    compliance = {"Authorization": f"Bearer {create_token(engine, 'li.na@example.com', [Role.COMPLIANCE])}"}
    expired = create_token(engine, "old@example.com", [Role.VIEWER], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        # An expired token is refused like an unknown one: on the API and on the pages' sign-in.
        assert (await client.get("/cases", headers={"Authorization": f"Bearer {expired}"})).status_code == 401
        assert (await client.post("/pages/login", data={"token": expired})).status_code == 401
        for method, path in (("GET", "/tokens"), ("POST", "/tokens"), ("POST", "/tokens/1/revoke")):
            assert (await client.request(method, path, headers=compliance)).status_code == 403, path
        made = await client.post("/tokens", json={"person": "wang.fang@example.com", "roles": ["qa"], "days": 7},
                                 headers=admin)
        assert made.status_code == 201, made.text
        issued = made.json()
        assert (issued["person"], issued["roles"], issued["created_by"], issued["state"]) == (
            "wang.fang@example.com", ["qa"], "admin@example.com", "live")
        lasts = datetime.fromisoformat(issued["expires_at"]) - datetime.fromisoformat(issued["created_at"])
        assert lasts == timedelta(days=7)
        as_her = {"Authorization": f"Bearer {issued['token']}"}
        assert (await client.get("/cases", headers=as_her)).status_code == 200
        listed = await client.get("/tokens", headers=admin)
        assert issued["token"] not in listed.text and "hash" not in listed.text  # never the secret, nor its hash
        states = {t["person"]: (t["state"], t["created_by"]) for t in listed.json()}
        assert states == {"admin@example.com": ("live", "ops"), "li.na@example.com": ("live", "stockwarden"),
                          "old@example.com": ("expired", "stockwarden"), "wang.fang@example.com": ("live", "admin@example.com")}
        assert [t["person"] for t in (await client.get("/tokens", params={"person": "old@example.com"}, headers=admin)).json()] \
            == ["old@example.com"]
        revoked = await client.post(f"/tokens/{issued['id']}/revoke", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        assert (await client.get("/cases", headers=as_her)).status_code == 401
        again = await client.post(f"/tokens/{issued['id']}/revoke", headers=admin)
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # stays as it was
        assert (await client.post("/tokens/999999/revoke", headers=admin)).status_code == 404
        for bad in ({"person": "nobody", "roles": ["qa"]}, {"person": "a@b", "roles": []},
                    {"person": "a@b", "roles": ["qa"], "days": 0}, {"person": "a@b", "roles": ["root"]}):
            assert (await client.post("/tokens", json=bad, headers=admin)).status_code == 422, bad
    with engine.connect() as connection:
        trail = [(e.actor, e.action, e.after.get("token")) for e in entries(connection)
                 if e.action in ("api.token_created", "api.token_revoked") and e.subject == "person:wang.fang@example.com"]
    assert trail == [("admin@example.com", "api.token_created", issued["id"]),
                     ("admin@example.com", "api.token_revoked", issued["id"])]  # the second revocation changed nothing


@pytest.mark.asyncio
async def test_people_are_read_and_replaced_only_by_a_checked_file(engine: Engine, tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text("people:\n  - email: zhang.wei@example.com\n    name: 张伟\n"
                      "    channels: [email, 'wecombot://secretkey']\n", encoding="utf-8")
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", people_file=people))  # type: ignore[arg-type]
    admin = {"Authorization": f"Bearer {create_token(engine, 'admin@example.com', [Role.ADMIN])}"}
    compliance = {"Authorization": f"Bearer {create_token(engine, 'li.na@example.com', [Role.COMPLIANCE])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        listed = (await client.get("/people", headers=compliance)).json()
        assert [(p["email"], p["channels"]) for p in listed] == [("zhang.wei@example.com", ["email", "wecombot://…"])]
        bad = "people:\n  - email: li.na@example.com\n    name: 李娜\n    langauge: zh-CN\n"
        refused = await client.put("/people", content=bad.encode(), headers={**admin, "Content-Type": "application/yaml"})
        assert refused.status_code == 422
        [problem] = refused.json()["problems"]
        assert (problem["line"], problem["column"]) == (4, 5) and "langauge" in problem["text"]
        assert "secretkey" in people.read_text(encoding="utf-8")  # the good file stays
        assert (await client.put("/people", content=b"people: []", headers=compliance)).status_code == 403
        good = "people:\n  - email: li.na@example.com\n    name: 李娜\n    roles: [manager]\n"
        done = await client.put("/people", content=good.encode(), headers={**admin, "Content-Type": "application/yaml"})
        assert done.json() == {"people": 1} and people.read_text(encoding="utf-8") == good
        assert [p["email"] for p in (await client.get("/people", headers=admin)).json()] == ["li.na@example.com"]
    with engine.connect() as connection:
        [entry] = [e for e in entries(connection) if e.action == "people.replaced"]
    assert entry.actor == "admin@example.com" and entry.after["people"] == 1


def test_every_case_state_and_page_text_is_said_in_both_languages() -> None:
    """And the states in the same words everywhere: the pages' and the messages' are core/states.py's."""
    from api import texts
    from api.texts import LINK_TEXT, PAGE_TEXT, REFUSAL_TEXT
    from core.case import STATES
    from core.states import STATE_NAMES
    from notifications import messages

    assert set(STATE_NAMES["en"]) == set(STATE_NAMES["zh-CN"]) == set(STATES)
    assert set(PAGE_TEXT["en"]) == set(PAGE_TEXT["zh-CN"]) and set(LINK_TEXT["en"]) == set(LINK_TEXT["zh-CN"])
    assert set(REFUSAL_TEXT["en"]) == set(REFUSAL_TEXT["zh-CN"])
    assert texts.STATE_NAMES is STATE_NAMES and not hasattr(messages, "STATE_NAMES")  # no second list to drift
    for language, names in STATE_NAMES.items():
        said = messages._ENVIRONMENTS[language].filters["state"]  # the word a message's `|state` prints
        assert {state: said(state) for state in STATES} == names


@pytest.mark.asyncio(loop_scope="module")
async def test_stockwarden_serve_answers_ready_against_the_configured_temporal(dev: WorkflowEnvironment, governed: Engine,
                                                                               tmp_path: Path) -> None:
    """The production entry point (docker-compose's api service): `stockwarden serve` in its own process."""
    import asyncio
    import os
    import subprocess
    import sys

    from stockwarden.temporal import free_port

    env_: object = dev
    target = env_.client.service_client.config.target_host  # type: ignore[attr-defined]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "stockwarden.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "STOCKWARDEN_DATABASE_URL": governed.url.render_as_string(hide_password=False),
             "STOCKWARDEN_TEMPORAL_ADDRESS": target, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")},
        stderr=subprocess.PIPE, text=True)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                try:
                    ready = await client.get("/ready")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert ready.json() == {"status": "ready"}
            token = create_token(governed, "li.na@example.com", [Role.VIEWER])
            listed = await client.get("/cases", headers={"Authorization": f"Bearer {token}"})
            assert [c["workflow_id"] for c in listed.json()["items"]] == ["case/idle/SH01/CAT-1", "case/idle/SH01/HIP-1"]
        server.terminate()  # SIGTERM, as docker stop sends it: uvicorn's graceful stop, then exit 0
        assert server.wait(timeout=30) == 0
        assert server.stderr.read().rstrip().endswith("API stopped.")  # type: ignore[union-attr]
    finally:
        if server.poll() is None:
            server.kill()


# Cases filtered by SKU, site and lot (issue 15): four positions, the lot L2 at two SKUs, one with two serials.

QA_OWNER = "qa.officer@example.com"


HIP_SH01 = position_key("HIP-1", "SH01", "zhang.wei@example.com")
HIP_BJ02 = position_key("HIP-1", "BJ02", "zhang.wei@example.com")
CAT_SH01 = position_key("CAT-1", "SH01", "zhang.wei@example.com")
CAT_SH01_QA = position_key("CAT-1", "SH01", "qa.officer@example.com")


@pytest.fixture
def positions(engine: Engine) -> Engine:
    record(engine,
           position_event("HIP-1", "SH01", [("L1", "S1"), ("L2", "S2"), ("L2", "S3")], po="P9/10"),
           position_event("HIP-1", "BJ02", [("L7", "")], state="acknowledged"),
           position_event("CAT-1", "SH01", [("A", ""), ("L2", "")]),
           position_event("CAT-1", "SH01", [("Q1", "")], state="resolved", owner=QA_OWNER))
    return engine


def _physical_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Where each case_lot row sits (SQLite's rowid, PostgreSQL's ctid and xmin): a rewrite moves them."""
    from sqlalchemy import text

    where = "rowid" if engine.dialect.name == "sqlite" else "ctid::text, xmin::text"
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(f"SELECT case_id, lot, serial, {where} FROM case_lot "
                                                          "ORDER BY case_id, lot, serial"))]


@pytest.fixture
def filtering(positions: Engine) -> tuple[httpx.AsyncClient, dict[str, str]]:
    viewer = create_token(positions, "auditor@example.com", [Role.VIEWER])
    owner = create_token(positions, QA_OWNER, [Role.OWNER])
    app = create_app(positions, None, Settings())  # type: ignore[arg-type]  # no Temporal needed to read cases
    return (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api"),
            {"viewer": viewer, "owner": owner})


@pytest.mark.asyncio
async def test_cases_filter_by_sku_site_and_lot(filtering: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, tokens = filtering

    async def ids(token: str = "viewer", **params: str) -> list[str]:
        answer = await client.get("/cases", params=params, headers={"Authorization": f"Bearer {tokens[token]}"})
        assert answer.status_code == 200, answer.text
        return [c["workflow_id"] for c in answer.json()["items"]]

    async with client:
        assert await ids(sku="HIP-1") == [HIP_BJ02, HIP_SH01]
        assert await ids(site="SH01") == [CAT_SH01_QA, CAT_SH01, HIP_SH01]  # by id
        assert await ids(sku="HIP-1", site="SH01") == [HIP_SH01]
        assert await ids(lot="L1") == [HIP_SH01]  # one of the case's three lines
        assert await ids(lot="L2") == [CAT_SH01, HIP_SH01]  # any serial of it (S2, S3), at either SKU
        assert await ids(lot="L2", sku="HIP-1") == [HIP_SH01]
        assert await ids(lot="L2", site="BJ02") == []
        assert await ids(lot="P9/10") == [] and await ids(lot="S2") == []  # a PO line, a serial: not lots
        assert await ids(lot="Q1") == [CAT_SH01_QA]
        assert await ids(state="open", site="SH01") == [CAT_SH01, HIP_SH01]
        assert await ids(state="open", lot="Q1") == []
        assert await ids(lot="Q1", token="owner") == [CAT_SH01_QA]  # the QA officer owns it
        assert await ids(lot="L2", token="owner") == []
        assert await ids(sku="", site="", lot="") == [HIP_BJ02, CAT_SH01_QA, CAT_SH01, HIP_SH01]  # empty: any


@pytest.mark.asyncio
async def test_cases_filtered_by_lot_page_by_cursor_and_follow_the_lines(
        filtering: tuple[httpx.AsyncClient, dict[str, str]], positions: Engine) -> None:
    client, tokens = filtering
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}

    async def walk(**params: str | bool) -> list[str]:
        seen, cursor = [], None
        while True:
            page = await client.get("/cases", params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})},
                                    headers=viewer)
            assert page.status_code == 200, page.text
            seen += [c["workflow_id"] for c in page.json()["items"]]
            if (cursor := page.json()["next_cursor"]) is None:
                return seen

    async with client:
        assert await walk(site="SH01") == [CAT_SH01_QA, CAT_SH01, HIP_SH01]
        assert await walk(site="SH01", sort="opened_at", descending=True) == [HIP_SH01, CAT_SH01, CAT_SH01_QA]  # a tie
        assert await walk(lot="L2") == [CAT_SH01, HIP_SH01]
        assert await walk(lot="L2", sort="value", descending=True) == [HIP_SH01, CAT_SH01]  # 300 before 200
        first = (await client.get("/cases", params={"lot": "L2", "limit": 1}, headers=viewer)).json()
        # A scan leaves HIP-1 at SH01 with L1 only: the lot filter follows the mirror's lines.
        record(positions, position_event("HIP-1", "SH01", [("L1", "S1")], no=2))
        rest = (await client.get("/cases", params={"lot": "L2", "cursor": first["next_cursor"]}, headers=viewer)).json()
        assert first["items"][0]["workflow_id"] == CAT_SH01 and rest == {"items": [], "next_cursor": None}
        assert await walk(lot="L1") == [HIP_SH01]
        record(positions, position_event("CAT-1", "GZ03", [("Z9", "")]))  # HIP-1's rowid is not the last
        written = _physical_rows(positions)
        record(positions, position_event("HIP-1", "SH01", [("L1", "S1")], no=3, state="acknowledged"))  # lots as they were
        assert await walk(lot="L1", state="acknowledged") == [HIP_SH01]
        assert _physical_rows(positions) == written  # not rewritten
    from sqlalchemy import select

    from governance.models import CaseLot
    with positions.connect() as connection:
        rows = connection.execute(select(col(CaseLot.case_id), col(CaseLot.sku), col(CaseLot.site), col(CaseLot.lot), col(CaseLot.serial))
                                  .order_by(col(CaseLot.case_id), col(CaseLot.lot))).all()
    assert [tuple(r) for r in rows] == [(HIP_BJ02, "HIP-1", "BJ02", "L7", ""),
                                        (position_key("CAT-1", "GZ03", "zhang.wei@example.com"), "CAT-1", "GZ03", "Z9", ""),
                                        (CAT_SH01_QA, "CAT-1", "SH01", "Q1", ""),
                                        (CAT_SH01, "CAT-1", "SH01", "A", ""), (CAT_SH01, "CAT-1", "SH01", "L2", ""),
                                        (HIP_SH01, "HIP-1", "SH01", "L1", "S1")]


@pytest.mark.asyncio
async def test_cases_refuse_over_long_and_control_character_filters(
        filtering: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, tokens = filtering
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    async with client:
        for params, said in (({"lot": "L" * 81}, "at most 80 characters"), ({"site": "S" * 41}, "at most 40 characters"),
                             ({"sku": "H" * 81}, "at most 80 characters")):
            answer = await client.get("/cases", params=params, headers=viewer)
            assert answer.status_code == 422 and said in answer.text, answer.text
        for params in ({"lot": "L2\x00"}, {"sku": "HIP-1\n"}, {"site": "SH\t01"}, {"lot": "L\x9b2"}):
            answer = await client.get("/cases", params=params, headers=viewer)
            assert answer.status_code == 422, answer.text
            assert answer.json()["detail"] == f"{next(iter(params))} must not contain control characters (tabs, line breaks and the like)"
        assert (await client.get("/cases", params={"lot": "L" * 80, "sku": "批次 ok"}, headers=viewer)).json()["items"] == []


def test_the_upgrade_fills_case_lots_from_the_mirrored_cases(engine: Engine) -> None:
    """Revision 0019 on a database of 0018 with cases in it (one of the per-rule model, lines as it wrote them)."""
    from alembic import command
    from sqlalchemy import insert, select

    from core.db import alembic_config, migrate
    from governance.listing import CaseFilter, list_cases
    from governance.models import CaseLot, CaseRow

    command.downgrade(alembic_config(engine), "0018")
    at = datetime(2026, 11, 20, tzinfo=UTC)
    common = {"rule": "idle", "severity": "high", "state": "open", "owner": "zhang.wei@example.com", "assignees": [],
              "acknowledge_due": at, "resolve_due": at, "value": 1, "policy_version": "t v1", "opened_at": at,
              "updated_at": at}
    with engine.begin() as connection:
        connection.execute(insert(CaseRow), [
            {**common, "id": "case/idle/SH01/HIP-1", "sku": "HIP-1", "site": "SH01",
             "lines": [{"lot": "L1", "serial": "S1", "value": "1"}, {"lot": "L2", "serial": "S2", "value": "1"}]},
            {**common, "id": HIP_SH01, "position": HIP_SH01, "sku": "HIP-1", "site": "SH01",
             "lines": [{"lot": "L2", "serial": "S3", "value": "1"}, {"lot": "", "serial": "", "value": "0", "po": "P9/10"}]},
            {**common, "id": "case/slow/GZ03/CAT-1", "sku": "CAT-1", "site": "GZ03", "lines": []}])
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(select(col(CaseLot.case_id), col(CaseLot.lot), col(CaseLot.serial))
                                  .order_by(col(CaseLot.case_id), col(CaseLot.lot))).all()
        assert [tuple(r) for r in rows] == [("case/idle/SH01/HIP-1", "L1", "S1"), ("case/idle/SH01/HIP-1", "L2", "S2"),
                                            (HIP_SH01, "L2", "S3")]
        found, _ = list_cases(connection, CaseFilter(lot="L2"))
        assert [r.id for r in found] == ["case/idle/SH01/HIP-1", HIP_SH01]
