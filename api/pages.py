"""The pages people open from a message or a browser: their cases, a case with its facts, timeline and
action forms, the policy preview, the committee's KPIs with charts, the loaded snapshots (where compliance accepts
or rejects a suspect one), and the page where people set their signing PIN. Server-rendered (Jinja), in zh-CN and en, nothing loaded from elsewhere. Each page states its roles
as the API's routes do; the data comes from the same functions the API uses, and a case from the one
visibility check (governance/visibility.py); an action goes through the one case action
(governance/actions.py), as the API's do; a snapshot's acceptance or rejection through the one decision
(rules/snapshots.py) the API and the console make, audited the same way."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, select
from sqlmodel import col
from temporalio.client import Client
from temporalio.service import RPCError

from api.actions import PAGE_ACTION_ROLES
from api.auth import PACK_READERS, SCANNERS, SNAPSHOT_READERS, live_token, principal_of, refused
from api.charts import bar_chart, line_chart, show
from api.deps import (
    ClientDep,
    EngineDep,
    PageKpiReaderDep,
    PagePackReaderDep,
    PagePolicyEditorDep,
    PageReaderDep,
    SettingsDep,
)
from api.forms import DONE, act_on_form
from api.pins import PinProblem, PinRefused, has_pin, refusal_text, set_pin, verify
from api.problems import ROW_ID_MAX
from api.refusals import SIGN_IN_FAILED, count, retry_after
from api.routes import check_period, pack_file
from api.texts import STATE_NAMES, page_text
from api.web import (
    end_session_of,
    language_of,
    page_guard,
    person_of,
    person_of_link,
    render,
    roles_of_person,
    start_session,
)
from audit.trail import append, entries
from core.case import FINAL_STATES, STATES, deadline_of
from core.db import as_utc
from core.period import Period
from governance.actions import view_of
from governance.listing import TEXT_LIMITS, BadCursor, BadFilter, CaseFilter, list_cases
from governance.visibility import CaseRefused, Principal, only_own, visible_case
from inventory.metrics import latest_snapshot, latest_snapshot_id
from inventory.models import Material
from notifications.context import actions_for, case_reasons, rule_reasons
from notifications.messages import DISPOSITIONS
from reports.kpis import NoSnapshotForPeriod, store
from reports.labels import kpi_label
from reports.summary import kpi_summary
from rules.loader import PolicyInvalid, parse_policy
from rules.scan import NothingToScan, preview, preview_json
from rules.snapshots import REASON_MAX, SnapshotRefused, decide, listed
from rules.versions import known_values


def _say(lang: str, key: str) -> str:
    return page_text(lang)[key]


def _when(moment: datetime | None) -> str:
    return "" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M")


def too_many(request: Request, engine: Engine, lang: str) -> HTMLResponse | None:
    """429, in the reader's language, while the caller's address has failed too often (api/refusals.py)."""
    wait = retry_after(engine, request)
    if wait is None:
        return None
    page = render(request, "notice.html.j2", lang, 429, title="Stockwarden", refused=True, principal=None,
                  message=_say(lang, "too_many_failures").format(seconds=wait))
    page.headers["Retry-After"] = str(wait)
    return page


router = APIRouter(prefix="/pages", include_in_schema=False)


@router.get("/enter/{token}")
async def enter(request: Request, token: str, engine: EngineDep, settings: SettingsDep) -> Response:
    """The signed "my cases" link: signs its person in (their roles from people.yaml)."""
    if (slowed := too_many(request, engine, language_of(request, None))) is not None:
        return slowed
    person = person_of_link(settings, token)
    if person is None:
        lang = language_of(request, None)
        count(engine, request, "link invalid")
        return render(request, "notice.html.j2", lang, 403, title="Stockwarden", refused=True,
                      message=_say(lang, "link_invalid"))
    principal = Principal(person, roles_of_person(request, person))
    with engine.begin() as connection:
        append(connection, actor=person, action="page.signed_in", subject=f"person:{person}",
               after={"by": "my-cases link", "roles": sorted(principal.roles)})
    response = RedirectResponse("/pages/cases", status_code=303)
    start_session(request, response, person, began_with="my_cases_link")
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html.j2", language_of(request, None), principal=None, message="",
                  signed_out=request.query_params.get("signed_out") == "1")


@router.post("/login")
async def login(request: Request, engine: EngineDep) -> Response:
    lang = language_of(request, None)
    if (slowed := too_many(request, engine, lang)) is not None:
        return slowed
    form = await request.form()
    token = live_token(engine, str(form.get("token", "")).strip())
    if token is None:
        count(engine, request, SIGN_IN_FAILED)  # names nobody: counted, not chained
        return render(request, "login.html.j2", lang, 401, principal=None, message=_say(lang, "token_invalid"))
    with engine.begin() as connection:
        append(connection, actor=token.person, action="page.signed_in", subject=f"person:{token.person}",
               after={"by": "api token", "token": token.id, "roles": sorted(token.roles)})
    target = str(form.get("next", "/pages/cases"))
    response = RedirectResponse(target if target.startswith("/pages/") else "/pages/cases", status_code=303)
    start_session(request, response, token.person, began_with="token", token_id=token.id)
    return response


@router.get("/pin", response_class=HTMLResponse)
async def pin_form(request: Request) -> HTMLResponse:
    """Set one's own signing PIN; the form takes the API token, so a link's session cannot set it."""
    lang = language_of(request, None)
    return render(request, "pin.html.j2", lang, title=_say(lang, "pin_title"), principal=None, message="")


@router.post("/pin", response_class=HTMLResponse)
async def pin_set(request: Request, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    lang = language_of(request, None)
    if (slowed := too_many(request, engine, lang)) is not None:
        return slowed
    form = await request.form()
    principal = principal_of(engine, str(form.get("token", "")).strip())

    def answer(key: str, status: int, refused: bool = True) -> HTMLResponse:
        return render(request, "pin.html.j2", lang, status, title=_say(lang, "pin_title"), principal=None,
                      message=_say(lang, key), refused=refused)

    if principal is None:
        count(engine, request, SIGN_IN_FAILED)
        return answer("token_invalid", 401)
    lang = language_of(request, principal.person)
    new, repeat = str(form.get("new", "")), str(form.get("repeat", ""))
    if has_pin(engine, principal.person):
        try:  # the current PIN counts towards the lock like a signature's
            await asyncio.to_thread(verify, engine, settings, principal.person, str(form.get("current", "")),
                                    f"person:{principal.person}")
        except PinRefused as refusal:
            return render(request, "pin.html.j2", lang, 403 if refusal.until is None else 429,
                          title=_say(lang, "pin_title"), principal=None, refused=True,
                          message=_say(lang, "pin_current_wrong") if refusal.reason != "locked" else refusal_text(lang, refusal))
    if new != repeat:
        return answer("pin_mismatch", 422)
    try:
        await asyncio.to_thread(set_pin, engine, principal.person, new, by=principal.person)
    except PinProblem as problem:
        return answer(problem.key, 422)
    return answer("pin_saved", 200, refused=False)


@router.post("/logout")
async def logout(request: Request, engine: EngineDep) -> Response:
    """Ends the session on the server, so its cookie, kept or copied, opens nothing afterwards."""
    response = RedirectResponse("/pages/login?signed_out=1", status_code=303)
    if person := end_session_of(request, response):
        with engine.begin() as connection:
            append(connection, actor=person, action="page.signed_out", subject=f"person:{person}")
    return response


@router.get("/cases", response_class=HTMLResponse)
async def cases(request: Request, principal: PageReaderDep, engine: EngineDep,
                state: str = "", severity: str = "", overdue: bool = False, sku: str = "", site: str = "",
                lot: str = "", cursor: str | None = None) -> HTMLResponse:
    lang = language_of(request, principal.person)
    try:
        where = CaseFilter(state=state or None, severity=severity or None, overdue=True if overdue else None,
                           sku=sku.strip() or None, site=site.strip() or None, lot=lot.strip() or None,
                           person=principal.person if only_own(principal) else None)
    except BadFilter as bad:
        raise HTTPException(422, _say(lang, f"filter_{bad.kind}").format(
            field=_say(lang, bad.field), limit=bad.limit)) from None
    now = datetime.now(UTC)
    with engine.connect() as connection:
        try:
            rows, next_cursor = list_cases(connection, where, sort="resolve_due", cursor=cursor, limit=50)
        except BadCursor as bad:
            raise HTTPException(422, str(bad)) from None
    shown = []
    for row in rows:
        due = deadline_of(row.state, row.acknowledge_due, row.resolve_due)
        shown.append({"id": row.id, "title": (row.title_zh if lang == "zh-CN" else row.title_en) or row.rule,
                      "sku": row.sku, "site": row.site, "owner": row.owner, "severity": row.severity,
                      "state": row.state, "due": _when(due), "overdue": due is not None and as_utc(due) < now,
                      "value": show(row.value, "money", lang)})
    next_url = str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
    title = _say(lang, "my_cases" if only_own(principal) else "all_cases")
    return render(request, "cases.html.j2", lang, title=title, principal=principal, cases=shown, states=STATES,
                  filters={"state": state, "severity": severity, "overdue": overdue, "sku": sku, "site": site,
                           "lot": lot}, limits=TEXT_LIMITS, next_url=next_url)


async def case_page(request: Request, engine: Engine, client: Client, case_id: str, principal: Principal,
                    notice: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """The case as `principal` sees it, with the forms of the actions open to them now, and `notice` (what
    their last action did, or why it was refused)."""
    lang = language_of(request, principal.person)
    with engine.connect() as connection:
        row = visible_case(connection, principal, case_id)
        timeline = [{"at": _when(e.at), "actor": e.actor, "action": e.action, "reason": e.reason}
                    for e in entries(connection, case=case_id)]
        stock = latest_snapshot(connection)
        sku_name = "" if stock is None else connection.execute(select(col(Material.name)).where(
            col(Material.snapshot_id) == stock.id, col(Material.sku) == row.sku)).scalar()
    person = person_of(request, principal.person)
    actions = actions_for(row.mirrored(), person)
    if row.state not in FINAL_STATES:
        actions = [*actions, "comment"]
    actions = [a for a in actions if principal.roles & {r.value for r in PAGE_ACTION_ROLES[a]}]
    dispositions: list[str] = []
    if "propose" in actions:
        with contextlib.suppress(RPCError):  # a case Temporal no longer runs offers no choices
            dispositions = (await view_of(client, case_id)).dispositions
    due = deadline_of(row.state, row.acknowledge_due, row.resolve_due)
    case_lines = row.case_lines()
    with engine.connect() as connection:
        reasons = case_reasons(case_lines, row.rule) or rule_reasons(connection, row.rule, row.sku, row.site)
    lines = [{"lot": line.lot, "serial": line.serial, "expires_on": line.expires_on or "", "po": line.po,
              "quantity": show(Decimal(str(line.quantity or 0)), "quantity", lang),
              "value": "–" if line.po else show(Decimal(str(line.value)), "money", lang), "findings": line.findings,
              "allowed": ", ".join(DISPOSITIONS[lang].get(d, d) for d in line.dispositions)} for line in case_lines]
    return render(request, "case.html.j2", lang, status, title=(row.title_zh if lang == "zh-CN" else row.title_en) or row.rule,
                  principal=principal, case=row, lines=lines, sku_name=sku_name or "", reasons=reasons, timeline=timeline,
                  actions=actions, notice=notice, value=show(row.value, "money", lang),
                  acknowledge_due=_when(row.acknowledge_due), resolve_due=_when(row.resolve_due),
                  overdue=due is not None and as_utc(due) < datetime.now(UTC),
                  dispositions=[{"value": d, "label": DISPOSITIONS[lang].get(d, d)} for d in dispositions])


@router.get("/cases/{case_id:path}", response_class=HTMLResponse)
async def case(request: Request, case_id: str, principal: PageReaderDep, engine: EngineDep,
               client: ClientDep) -> HTMLResponse:
    return await case_page(request, engine, client, case_id, principal)


@router.post("/cases/{case_id:path}/act", response_class=HTMLResponse)
async def act(request: Request, case_id: str, principal: PageReaderDep, engine: EngineDep, client: ClientDep,
              settings: SettingsDep) -> HTMLResponse:
    """One of the case page's forms, as the case's Update in the signed-in person's name."""
    form = await request.form()
    action, lang = str(form.get("action", "")), language_of(request, principal.person)
    with engine.connect() as connection:
        found = visible_case(connection, principal, case_id)
    if action not in PAGE_ACTION_ROLES:
        raise HTTPException(422, f"no action {action!r}")

    async def again(message: str, status: int = 200, refusal: bool = True) -> HTMLResponse:
        """The case page again, saying what the action did or why it was refused."""
        return await case_page(request, engine, client, case_id, principal, {"refused": refusal, "message": message},
                               status)

    if not principal.roles & {r.value for r in PAGE_ACTION_ROLES[action]}:
        refused(engine, request, principal.person, f"roles {sorted(principal.roles)} may not {action}")
        return await again(_say(lang, "forbidden").format(roles=", ".join(sorted(principal.roles))), 403)
    try:
        await act_on_form(client, engine, settings, case_id, principal, action, form, found.case_lines())
    except PinRefused as refusal:
        return await again(refusal_text(lang, refusal), 403 if refusal.until is None else 429)
    except InvalidOperation:
        return await again(_say(lang, "quantity_error"), 422)
    except CaseRefused as refusal:
        return await again(refusal.message, refusal.status)
    view = await view_of(client, case_id)
    return await again(_say(lang, DONE[action]).format(state=STATE_NAMES[lang].get(view.state, view.state)), refusal=False)


@router.get("/policy-preview", response_class=HTMLResponse)
async def preview_form(request: Request, principal: PagePolicyEditorDep) -> HTMLResponse:
    lang = language_of(request, principal.person)
    return render(request, "preview.html.j2", lang, title=_say(lang, "preview"), principal=principal, draft="")


@router.post("/policy-preview", response_class=HTMLResponse)
async def preview_page(request: Request, principal: PagePolicyEditorDep, engine: EngineDep) -> HTMLResponse:
    lang = language_of(request, principal.person)
    draft = str((await request.form()).get("draft", ""))
    values: dict[str, Any] = {"title": _say(lang, "preview"), "principal": principal, "draft": draft}
    with engine.connect() as connection:
        known = known_values(connection)
    try:
        result = preview_json(await asyncio.to_thread(preview, engine, parse_policy(draft, "draft.yaml", known=known)))
    except PolicyInvalid as invalid:
        return render(request, "preview.html.j2", lang, 422, problems=[str(p) for p in invalid.problems], **values)
    except NothingToScan as nothing:
        return render(request, "preview.html.j2", lang, 409, problems=[str(nothing)], **values)
    groups = ("added", "removed", "kept")
    chart = bar_chart(_say(lang, "value"), [(_say(lang, g), Decimal(str(result[g]["value"]))) for g in groups],
                      "money", lang)
    return render(request, "preview.html.j2", lang, result=result, chart=chart,
                  values={g: show(result[g]["value"], "money", lang) for g in groups}, **values)


@router.get("/kpis", response_class=HTMLResponse)
async def kpis(request: Request, principal: PageKpiReaderDep, engine: EngineDep,
               period: str = "") -> HTMLResponse:
    lang = language_of(request, principal.person)
    if not period:
        with engine.connect() as connection:
            stock = latest_snapshot(connection)
        period = str(Period.of(stock.as_of if stock else datetime.now(UTC).date()))
    check_period(period)
    try:
        await asyncio.to_thread(store, engine, period)
    except NoSnapshotForPeriod as missing:
        return render(request, "notice.html.j2", lang, 404, title=_say(lang, "kpis"), principal=principal,
                      refused=True, message=str(missing))
    with engine.connect() as connection:
        summary = kpi_summary(connection, period)
    rows = [{"name": r.name, "label": kpi_label(r.name, lang), "value": show(r.value, r.kind, lang),
             "prior": show(r.prior, r.kind, lang), "trend": r.trend} for r in summary.rows]
    can_pack = bool(principal.roles & {r.value for r in PACK_READERS})
    return render(request, "kpis.html.j2", lang, title=_say(lang, "kpis"), principal=principal,
                  summary=summary, rows=rows, pack_url=f"/pages/packs/{period}?lang={lang}" if can_pack else None,
                  aging=bar_chart(_say(lang, "aging"), summary.aging, "money", lang),
                  obsolete=line_chart(_say(lang, "obsolete_trend"), [(m[2:], v) for m, v in summary.obsolete_trend],
                                      "ratio", lang),
                  expiry=bar_chart(_say(lang, "expiry_outlook"), [(m[2:], v) for m, v in summary.expiry], "money", lang))


@router.get("/packs/{period}")
async def pack(request: Request, period: str, principal: PagePackReaderDep, engine: EngineDep, client: ClientDep,
               settings: SettingsDep) -> Response:
    """The pack for someone signed in on a page (the API's /packs wants a bearer token)."""
    return await pack_file(engine, client, settings, period, language_of(request, principal.person))


PageSnapshotReaderDep = Annotated[Principal, Depends(page_guard(*SNAPSHOT_READERS))]
PageSnapshotDeciderDep = Annotated[Principal, Depends(page_guard(*SCANNERS))]
"""Who reads the snapshots page, and who accepts or rejects on it: the roles of GET /snapshots and of
POST /snapshots/{id}/accept|reject (api/feeds.py), so the page opens no door the API keeps shut."""
SNAPSHOTS_SHOWN = 50
"""The page lists the newest this many (a daily load makes about 365 a year); the console lists more."""


@dataclass(frozen=True)
class SnapshotShown:
    """One snapshot as the page shows it, in the reader's language (never its source: a server path)."""

    id: int
    as_of: str
    loaded_at: str
    loaded_by: str
    counts: list[tuple[str, str]]
    state: str
    state_label: str
    in_use: bool
    reasons: list[str]
    decided_by: str
    decision_reason: str
    accepted_at: str


@dataclass(frozen=True)
class Notice:
    """What a decision did, or why it was refused."""

    message: str
    refused: bool


@dataclass(frozen=True)
class KeptForm:
    """What a refused decision's form held: put back in that snapshot's form, so nothing is typed twice."""

    snapshot_id: int
    reason: str


def _moment(iso: str | None) -> str:
    return "" if not iso else _when(datetime.fromisoformat(iso))


def snapshots_page(request: Request, engine: Engine, principal: Principal, *, notice: Notice | None = None,
                   kept: KeptForm | None = None, status: int = 200) -> HTMLResponse:
    """The snapshots newest first, each with its state and why a suspect one is held; the forms to accept or
    reject a suspect one for those who may (compliance, admin)."""
    lang = language_of(request, principal.person)
    words = page_text(lang)
    with engine.connect() as connection:
        rows = listed(connection, limit=SNAPSHOTS_SHOWN + 1)
        in_use = latest_snapshot_id(connection)
    shown = [SnapshotShown(
        row.id, row.as_of, _moment(row.loaded_at), row.loaded_by,
        [(words.get(f"table_{name}", name), show(Decimal(str(number)), "count", lang))
         for name, number in row.row_counts.items()],
        row.state, words.get(f"snapshot_state_{row.state}", row.state), row.id == in_use,
        [r.zh_cn if lang == "zh-CN" else r.en for r in row.held_because], row.decided_by, row.decision_reason,
        _moment(row.accepted_at)) for row in rows[:SNAPSHOTS_SHOWN]]
    return render(request, "snapshots.html.j2", lang, status, title=words["snapshots"], principal=principal,
                  snapshots=shown, notice=notice, kept=kept, reason_max=REASON_MAX,
                  can_decide=bool(principal.roles & {r.value for r in SCANNERS}),
                  newest=SNAPSHOTS_SHOWN if len(rows) > SNAPSHOTS_SHOWN else None)


@router.get("/snapshots", response_class=HTMLResponse)
async def snapshots(request: Request, principal: PageSnapshotReaderDep, engine: EngineDep) -> HTMLResponse:
    return snapshots_page(request, engine, principal)


@router.post("/snapshots/{snapshot_id}/decide", response_class=HTMLResponse)
async def decide_snapshot(request: Request, snapshot_id: str, principal: PageSnapshotDeciderDep,
                          engine: EngineDep) -> HTMLResponse:
    """A suspect snapshot's form: `decision` accept or reject, with a `reason`. A refusal (no reason, not
    suspect any more, ...) answers the page again with the form as it was sent."""
    lang = language_of(request, principal.person)

    def refused_with(message: str, status: int, kept: KeptForm | None = None) -> HTMLResponse:
        return snapshots_page(request, engine, principal, notice=Notice(message, refused=True), kept=kept,
                              status=status)

    number = int(snapshot_id) if snapshot_id.isascii() and snapshot_id.isdigit() and len(snapshot_id) <= 10 else 0
    if not 1 <= number <= ROW_ID_MAX:
        return refused_with(_say(lang, "no_snapshot").format(id=snapshot_id[:40]), 404)
    form = await request.form()
    decision, reason = str(form.get("decision", "")), str(form.get("reason", ""))
    kept = KeptForm(number, reason)
    if decision not in ("accept", "reject"):
        return refused_with(_say(lang, "choose_decision"), 422, kept)
    try:
        row = await asyncio.to_thread(decide, engine, number, accept=decision == "accept", actor=principal.person,
                                      reason=reason)
    except SnapshotRefused as refusal:
        why = refusal.zh_cn if lang == "zh-CN" else refusal.en
        return refused_with(_say(lang, "snapshot_refused").format(id=number, why=why), refusal.status, kept)
    with engine.connect() as connection:
        used = latest_snapshot_id(connection)
    key = "snapshot_rejected_done" if decision == "reject" else \
        "snapshot_accepted_in_use" if used == row.id else "snapshot_accepted_newer"
    done = _say(lang, key).format(id=row.id, as_of=row.as_of, used=used)
    return snapshots_page(request, engine, principal, notice=Notice(done, refused=False))
