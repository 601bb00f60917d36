"""The pages behind signed action links: GET shows what the link will do (a form where the action needs
input), POST does it through the case workflow's Update. A forged, expired, reused or someone else's
link is refused with a page that says why, and nothing changes. A used link signs its person in (a
session on the server, in the roles people.yaml gives them at each request), so the case page and their
other cases are one tap away.

A link is a bearer credential (anyone holding the URL holds it), so it may show a case, acknowledge and
propose, but a signature also needs its person's signing PIN (api/pins.py). Its person must still be
allowed to see the case (governance/visibility.py), and the action goes through the one case action
(governance/actions.py). Refused links are audited when the link names its person
(expired, used, someone else's, a case no longer theirs) and counted per address when it names nobody
(forged); an address with too many refusals in a minute is answered 429 (api/refusals.py)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import ClientDep, EngineDep, SettingsDep
from api.forms import DONE, act_on_form
from api.pins import PinRefused, refusal_text
from api.refusals import LINK_PREFIX, count, retry_after
from api.texts import LINK_TEXT, STATE_NAMES, page_text
from api.web import PAGES, language_of, roles_of_person, session_of, start_session
from audit.trail import append
from core.settings import Settings
from governance.actions import view_of
from governance.models import CaseRow
from governance.visibility import CaseRefused, Principal, case_seen_by
from notifications.links import ActionLink, LinkRefused, check_unused, mark_used, read
from notifications.messages import DISPOSITIONS


@dataclass
class Context:
    link: ActionLink
    lang: str
    case: CaseRow
    who: Principal
    """The link's person, in the roles people.yaml gives them now."""


def _page(lang: str, kind: str, status: int = 200, **values: Any) -> HTMLResponse:
    t = page_text(lang)
    title = values.pop("title", t["refused"] if kind == "refused" else t["done"] if kind == "done" else "Stockwarden")
    html = PAGES.get_template("page.html.j2").render(lang=lang, kind=kind, t=t, title=title, **values)
    return HTMLResponse(html, status_code=status)


def refuse(engine: Engine, request: Request, why: str, person: str, subject: str) -> None:
    """Count the refusal against the caller's address; audit it too when the link names its person."""
    count(engine, request, LINK_PREFIX + why)
    if person:
        with engine.begin() as connection:
            append(connection, actor=person, action="link.refused", subject=subject, reason=why)


def open_link(request: Request, engine: Engine, settings: Settings, token: str) -> Context | HTMLResponse:
    """The link's context when it holds, else the page that says why it does not."""
    if (wait := retry_after(engine, request)) is not None:
        lang = language_of(request, None)
        page = _page(lang, "refused", 429, message=page_text(lang)["too_many_failures"].format(seconds=wait))
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        link = read(settings.secret_key, token, settings.link_days * 86_400)
    except LinkRefused as refused:
        refuse(engine, request, refused.reason, refused.person, "action link")
        lang = language_of(request, refused.person or None)
        return _page(lang, "refused", 403, message=LINK_TEXT[lang][f"link_{refused.reason}"])
    lang = language_of(request, link.person)
    subject = f"link:{link.case_id}"  # not the case's own timeline: a refusal changed nothing there
    session = session_of(request)
    if session and session.person != link.person:
        refuse(engine, request, "wrong person", session.person, subject)
        return _page(lang, "refused", 403, message=LINK_TEXT[lang]["wrong_person"].format(person=link.person,
                                                                                        other=session.person))
    who = Principal(link.person, roles_of_person(request, link.person))
    with engine.connect() as connection:
        used: LinkRefused | None = None
        try:
            check_unused(connection, link)
        except LinkRefused as refused:
            used = refused
        row = case_seen_by(connection, who, link.case_id)
    if used is not None:
        refuse(engine, request, used.reason, link.person, subject)
        return _page(lang, "refused", 410, message=LINK_TEXT[lang][f"link_{used.reason}"])
    if row is None:
        refuse(engine, request, "case not visible", link.person, subject)
        return _page(lang, "refused", 404, message=page_text(lang)["not_visible"])
    return Context(link, lang, row, who)


async def form_values(client: Client, context: Context) -> dict[str, Any]:
    allowed: list[str] = []
    if context.link.action == "propose":
        with contextlib.suppress(RPCError):  # a finished case shows no choices; its Update refuses anyway
            allowed = (await view_of(client, context.link.case_id)).dispositions
    return {"case": context.case, "action": context.link.action,
            "dispositions": [{"value": d, "label": DISPOSITIONS[context.lang].get(d, d)} for d in allowed]}


router = APIRouter(include_in_schema=False)  # pages for people, not part of the API


@router.get("/act/{token}", response_class=HTMLResponse, summary="The page behind a signed action link")
async def show(request: Request, token: str, client: ClientDep, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    context = open_link(request, engine, settings, token)
    if isinstance(context, HTMLResponse):
        return context
    return _page(context.lang, "form", title=LINK_TEXT[context.lang][context.link.action],
                 **(await form_values(client, context)))


@router.post("/act/{token}", response_class=HTMLResponse, summary="Do what a signed action link offers")
async def act(request: Request, token: str, client: ClientDep, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    context = open_link(request, engine, settings, token)
    if isinstance(context, HTMLResponse):
        return context
    form = await request.form()
    link, lang, t = context.link, context.lang, page_text(context.lang)
    try:
        state = await act_on_form(client, engine, settings, link.case_id, context.who, link.action, form,
                                  context.case.case_lines())
    except PinRefused as refused:
        return _page(lang, "form", 403 if refused.until is None else 429, title=t[link.action],
                     error=refusal_text(lang, refused), **(await form_values(client, context)))
    except InvalidOperation:
        return _page(lang, "form", 422, title=t[link.action], error=t["quantity_error"],
                     **(await form_values(client, context)))
    except CaseRefused as refusal:
        if refusal.kind == CaseRefused.NOT_VISIBLE:  # no longer theirs since the link was opened
            return _page(lang, "refused", 404, message=t["not_visible"])
        if refusal.temporal is not None:
            return _page(lang, "refused", 410, message=f"the case no longer takes actions ({refusal.temporal})")
        return _page(lang, "form", 409, title=t[link.action], error=refusal.message,
                     **(await form_values(client, context)))
    with engine.begin() as connection:
        mark_used(connection, link)
    response = _page(lang, "done", message=t[DONE.get(link.action, "signed")].format(
        state=STATE_NAMES[lang].get(state, state)), case_url=f"/pages/cases/{link.case_id}")
    start_session(request, response, link.person, began_with="action_link", link_id=link.jti)
    return response
