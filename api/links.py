"""The pages behind signed action links: GET shows what the link will do (a form where the action needs
input), POST does it through the case workflow's Update. A forged, expired, reused or someone else's
link is refused with a page that says why, and nothing changes. A used link signs its person in (a
session on the server, in the roles people.yaml gives them at each request), so the case page and their
other cases are one tap away.

A link is a bearer credential (anyone holding the URL holds it), so it may show a case, acknowledge and
propose, but a signature also needs its person's signing PIN (api/pins.py). Its person must still be
allowed to see the case (api/visibility.py). Refused links are audited when the link names its person
(expired, used, someone else's, a case no longer theirs) and counted per address when it names nobody
(forged); an address with too many refusals in a minute is answered 429 (api/refusals.py)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.auth import Principal
from api.forms import propose_from_form, sign_from_form
from api.pins import PinRefused, authenticated, refusal_text
from api.refusals import LINK_PREFIX, count, retry_after
from api.texts import LINK_TEXT, STATE_NAMES, page_text
from api.visibility import may_see
from api.web import PAGES, language_of, roles_of_person, session_of, start_session
from audit.trail import append
from governance.models import CaseRow
from notifications.links import ActionLink, LinkRefused, check_unused, mark_used, read
from notifications.messages import DISPOSITIONS
from workflows.case import CaseWorkflow
from workflows.case_messages import Acknowledge


@dataclass
class Context:
    link: ActionLink
    lang: str
    case: CaseRow


def _page(lang: str, kind: str, status: int = 200, **values: Any) -> HTMLResponse:
    t = page_text(lang)
    title = values.pop("title", t["refused"] if kind == "refused" else t["done"] if kind == "done" else "Stockwarden")
    html = PAGES.get_template("page.html.j2").render(lang=lang, kind=kind, t=t, title=title, **values)
    return HTMLResponse(html, status_code=status)


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)  # pages for people, not part of the API

    def refuse(request: Request, why: str, person: str, subject: str) -> None:
        """Count the refusal against the caller's address; audit it too when the link names its person."""
        engine = request.app.state.engine
        count(engine, request, LINK_PREFIX + why)
        if person:
            with engine.begin() as connection:
                append(connection, actor=person, action="link.refused", subject=subject, reason=why)

    def open_link(request: Request, token: str) -> Context | HTMLResponse:
        settings, engine = request.app.state.settings, request.app.state.engine
        if (wait := retry_after(engine, request)) is not None:
            lang = language_of(request, None)
            page = _page(lang, "refused", 429, message=page_text(lang)["too_many_failures"].format(seconds=wait))
            page.headers["Retry-After"] = str(wait)
            return page
        try:
            link = read(settings.secret_key, token, settings.link_days * 86_400)
        except LinkRefused as refused:
            refuse(request, refused.reason, refused.person, "action link")
            lang = language_of(request, refused.person or None)
            return _page(lang, "refused", 403, message=LINK_TEXT[lang][f"link_{refused.reason}"])
        lang = language_of(request, link.person)
        subject = f"link:{link.case_id}"  # not the case's own timeline: a refusal changed nothing there
        session = session_of(request)
        if session and session.person != link.person:
            refuse(request, "wrong person", session.person, subject)
            return _page(lang, "refused", 403, message=LINK_TEXT[lang]["wrong_person"].format(person=link.person,
                                                                                            other=session.person))
        with engine.connect() as connection:
            try:
                check_unused(connection, link)
            except LinkRefused as refused:
                used = refused
            else:
                used = None
            row = connection.execute(select(CaseRow).where(CaseRow.id == link.case_id)).first()  # type: ignore[arg-type]
            visible = row is not None and may_see(connection, Principal(link.person, roles_of_person(request, link.person)), row)
        if used is not None:
            refuse(request, used.reason, link.person, subject)
            return _page(lang, "refused", 410, message=LINK_TEXT[lang][f"link_{used.reason}"])
        if not visible:
            refuse(request, "case not visible", link.person, subject)
            return _page(lang, "refused", 404, message=page_text(lang)["not_visible"])
        return Context(link, lang, CaseRow.model_validate(row._mapping))

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
        return _page(context.lang, "form", title=LINK_TEXT[context.lang][context.link.action], **(await form_values(request, context)))

    @routes.post("/act/{token}", response_class=HTMLResponse, summary="Do what a signed action link offers")
    async def act(request: Request, token: str) -> HTMLResponse:
        context = open_link(request, token)
        if isinstance(context, HTMLResponse):
            return context
        form = await request.form()
        link, t = context.link, page_text(context.lang)
        handle = request.app.state.client.get_workflow_handle(link.case_id)
        try:
            if link.action == "acknowledge":
                state, done = await handle.execute_update(CaseWorkflow.acknowledge, Acknowledge(link.person)), "acknowledged"
            elif link.action == "propose":
                proposal = propose_from_form(form, link.person, context.case.lines)
                state, done = await handle.execute_update(CaseWorkflow.propose, proposal), "proposed"
            else:
                sign = await asyncio.to_thread(authenticated, request.app.state.engine, request.app.state.settings,
                                               sign_from_form(form, link.person, link.action), str(form.get("pin", "")), link.case_id)
                state, done = await handle.execute_update(CaseWorkflow.sign, sign), "signed"
        except PinRefused as refused:
            return _page(context.lang, "form", 403 if refused.until is None else 429, title=t[link.action],
                         error=refusal_text(context.lang, refused), **(await form_values(request, context)))
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
        response = _page(context.lang, "done", message=t[done].format(state=STATE_NAMES[context.lang].get(state, state)), case_url=f"/pages/cases/{link.case_id}")
        start_session(request, response, link.person, began_with="action_link", link_id=link.jti)
        return response

    return routes
