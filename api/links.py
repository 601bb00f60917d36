"""The pages behind signed action links: GET shows what the link will do (a form where the action needs
input), POST does it through the case workflow's Update. A forged, expired, reused or someone else's
link is refused with a page that says why, and nothing changes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from governance.models import CaseRow
from notifications.links import ActionLink, LinkRefused, check_unused, mark_used, read
from notifications.messages import DISPOSITIONS
from notifications.people import Language, load_people
from workflows.case import CaseWorkflow
from workflows.case_messages import Acknowledge, ProposalLine, Propose, Sign

PERSON_COOKIE = "sw_person"
TEXT = {
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
           "meaning_approved": "Approved", "meaning_reviewed": "Reviewed (no decision)"},
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
              "meaning_approved": "批准", "meaning_reviewed": "已审阅（不作决定）"},
}
_PAGES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                     autoescape=select_autoescape(enabled_extensions=("j2",), default=True))


@dataclass
class Context:
    link: ActionLink
    lang: str
    case: CaseRow


def _page(lang: str, kind: str, status: int = 200, **values: Any) -> HTMLResponse:
    t = TEXT[lang]
    title = values.pop("title", t["refused"] if kind == "refused" else t["done"] if kind == "done" else "Stockwarden")
    html = _PAGES.get_template("page.html.j2").render(lang=lang, kind=kind, t=t, title=title, **values)
    return HTMLResponse(html, status_code=status)


def router() -> APIRouter:
    routes = APIRouter()

    def language_of(request: Request, person: str | None) -> str:
        settings = request.app.state.settings
        if person is None:
            return settings.default_language
        directory = load_people(settings.people_file) if request.app.state.directory is None else request.app.state.directory
        return directory.person(person, language=Language(settings.default_language)).language.value

    def open_link(request: Request, token: str) -> Context | HTMLResponse:
        settings = request.app.state.settings
        try:
            link = read(settings.secret_key, token, settings.link_days * 86_400)
        except LinkRefused as refused:
            lang = language_of(request, None)
            return _page(lang, "refused", 403, message=TEXT[lang][f"link_{refused.reason}"])
        lang = language_of(request, link.person)
        signed_in = _signed_in(request)
        if signed_in and signed_in != link.person:
            return _page(lang, "refused", 403, message=TEXT[lang]["wrong_person"].format(person=link.person, other=signed_in))
        engine = request.app.state.engine
        with engine.connect() as connection:
            try:
                check_unused(connection, link)
            except LinkRefused as refused:
                return _page(lang, "refused", 410, message=TEXT[lang][f"link_{refused.reason}"])
            row = connection.execute(select(CaseRow).where(CaseRow.id == link.case_id)).first()  # type: ignore[arg-type]
        if row is None:
            return _page(lang, "refused", 404, message=f"case {link.case_id} is not known")
        return Context(link, lang, CaseRow.model_validate(row._mapping))

    def _signed_in(request: Request) -> str | None:
        cookie = request.cookies.get(PERSON_COOKIE)
        if not cookie:
            return None
        try:
            return str(URLSafeSerializer(request.app.state.settings.secret_key, salt=PERSON_COOKIE).loads(cookie))
        except BadSignature:
            return None

    async def form_values(request: Request, context: Context) -> dict[str, Any]:
        allowed: list[str] = []
        if context.link.action == "propose":
            with contextlib.suppress(RPCError):  # a finished case shows no choices; its Update refuses anyway
                view = await request.app.state.client.get_workflow_handle(context.link.case_id).query(CaseWorkflow.view)
                allowed = view.dispositions
        return {"case": context.case, "action": context.link.action,
                "dispositions": [{"value": d, "label": DISPOSITIONS[context.lang].get(d, d)} for d in allowed]}

    @routes.get("/act/{token}", response_class=HTMLResponse, summary="The page behind a signed action link")
    async def show(request: Request, token: str) -> HTMLResponse:
        context = open_link(request, token)
        if isinstance(context, HTMLResponse):
            return context
        return _page(context.lang, "form", title=TEXT[context.lang][context.link.action], **(await form_values(request, context)))

    @routes.post("/act/{token}", response_class=HTMLResponse, summary="Do what a signed action link offers")
    async def act(request: Request, token: str) -> HTMLResponse:
        context = open_link(request, token)
        if isinstance(context, HTMLResponse):
            return context
        form = await request.form()
        link, t = context.link, TEXT[context.lang]
        handle = request.app.state.client.get_workflow_handle(link.case_id)
        try:
            if link.action == "acknowledge":
                state, done = await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(link.person)), "acknowledged"
            elif link.action == "propose":
                lines = []
                for index, line in enumerate(context.case.lines):
                    quantity = str(form.get(f"qty_{index}", "")).strip()
                    if quantity:
                        Decimal(quantity)
                        lines.append(ProposalLine(line["lot"], line["serial"], quantity))
                request_ = Propose(link.person, str(form.get("disposition", "")), lines, target=str(form.get("target", "")),
                                   reason=str(form.get("reason", "")))
                state, done = await handle.execute_update(CaseWorkflow.propose, request_), "proposed"
            else:
                chosen = str(form.get("meaning", "approved"))
                meaning = "rejected" if link.action == "reject" else chosen if chosen in ("approved", "reviewed") else "approved"
                state = await handle.execute_update(CaseWorkflow.sign, Sign(link.person, meaning, str(form.get("reason", ""))))
                done = "signed"
        except InvalidOperation:
            return _page(context.lang, "form", 422, title=t[link.action], error=t["quantity_error"], **(await form_values(request, context)))
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            return _page(context.lang, "form", 409, title=t[link.action], error=message, **(await form_values(request, context)))
        except RPCError as failure:
            return _page(context.lang, "refused", 410, message=f"the case no longer takes actions ({failure.message})")
        with request.app.state.engine.begin() as connection:
            mark_used(connection, link)
        response = _page(context.lang, "done", message=t[done].format(state=state))
        response.set_cookie(PERSON_COOKIE, URLSafeSerializer(request.app.state.settings.secret_key,
                                                             salt=PERSON_COOKIE).dumps(link.person),
                            httponly=True, samesite="lax", max_age=30 * 86_400)
        return response

    return routes
