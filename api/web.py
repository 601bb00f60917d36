"""What every page shares: the templates, the reader's language, and who is reading.

People reach pages through a signed link from a message (the action links, and a "my cases" link that
signs them in) or by pasting an API token once; either starts a session on the server (api/sessions.py)
whose random id is the cookie's only content. There is no password store. The cookie is HttpOnly and
SameSite=Lax, so another site cannot post a form with it (and Secure when the public URL is https).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import KPI_READERS, POLICY_EDITORS, SNAPSHOT_READERS, bearer, principal_of, refused
from api.sessions import begin_session, end_session, find_session
from api.texts import STATE_NAMES, page_text
from core.settings import Settings
from governance.visibility import Principal, Role, only_own
from notifications.links import LinkRefused, read_my_cases
from notifications.people import Directory, Language, Person, load_people
from notifications.people import Role as PersonRole

SESSION_COOKIE = "sw_session"
LANGUAGES = ("zh-CN", "en")
ROLE_OF_PERSON = {PersonRole.OWNER: Role.OWNER, PersonRole.MANAGER: Role.OWNER, PersonRole.COMMITTEE: Role.COMMITTEE,
                  PersonRole.QA: Role.QA, PersonRole.COMPLIANCE: Role.COMPLIANCE, PersonRole.ADMIN: Role.ADMIN,
                  PersonRole.VIEWER: Role.VIEWER}
"""A person signed in by a link acts in the roles people.yaml gives them (a manager as an owner)."""

PAGES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                    autoescape=select_autoescape(enabled_extensions=("j2",), default=True))


class PageRefused(Exception):
    """Answered as a page (sign-in for 401), not as JSON; create_app registers the handler."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def render(request: Request, name: str, lang: str, status: int = 200, **values: Any) -> HTMLResponse:
    other = "en" if lang == "zh-CN" else "zh-CN"
    switch = request.url.include_query_params(lang=other) if request.method == "GET" else None
    principal: Principal | None = values.get("principal")
    nav = {} if principal is None else {
        "own": only_own(principal), "kpis": bool(principal.roles & {r.value for r in KPI_READERS}),
        "preview": bool(principal.roles & {r.value for r in POLICY_EDITORS}),
        "snapshots": bool(principal.roles & {r.value for r in SNAPSHOT_READERS})}
    html = PAGES.get_template(name).render(lang=lang, t=page_text(lang), switch_language=switch and str(switch),
                                           nav=nav, state_names=STATE_NAMES[lang], **values)
    return HTMLResponse(html, status_code=status)


def directory_of(request: Request) -> Directory:
    """The app's people: the directory it was given (tests), else people.yaml as it is now (PUT /people
    replaces it, so it is read again rather than kept)."""
    return request.app.state.directory or load_people(request.app.state.settings.people_file)


def person_of(request: Request, email: str) -> Person:
    """The listed person, or someone unlisted in the default language."""
    return directory_of(request).person(email, language=Language(request.app.state.settings.default_language))


def language_of(request: Request, person: str | None) -> str:
    """`?lang=` if given, else the person's language in people.yaml, else the default."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    if person is None:
        return str(request.app.state.settings.default_language)
    return person_of(request, person).language.value


def start_session(request: Request, response: Response, person: str, *, began_with: str,
                  token_id: int | None = None, link_id: str | None = None) -> None:
    """A new session for `person` (the browser's previous one ends), its id set as the cookie."""
    settings: Settings = request.app.state.settings
    with request.app.state.engine.begin() as connection:
        if previous := request.cookies.get(SESSION_COOKIE):
            end_session(connection, previous, "replaced")
        session_id = begin_session(connection, person, began_with=began_with, hours=settings.session_hours,
                                   token_id=token_id, link_id=link_id)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax", path="/",
                        max_age=int(settings.session_hours * 3600), secure=settings.public_url.startswith("https://"))


def session_of(request: Request) -> Principal | None:
    """The signed-in person, in the roles they hold now: their token's while it lives, else people.yaml's."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with request.app.state.engine.connect() as connection:
        found = find_session(connection, cookie)
    if found is None:
        return None
    roles = found.token_roles if found.token_roles is not None else roles_of_person(request, found.person)
    return Principal(found.person, roles)


def end_session_of(request: Request, response: Response) -> str | None:
    """Logout: the session ends on the server and the cookie goes; the person it was, if any."""
    person = None
    if cookie := request.cookies.get(SESSION_COOKIE):
        with request.app.state.engine.begin() as connection:
            person = end_session(connection, cookie, "logout")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return person


def person_of_link(settings: Settings, token: str) -> str | None:
    """The person a "my cases" link (notifications.context.my_cases_url) was sent to, if it holds."""
    try:
        return read_my_cases(settings.secret_key, token, settings.link_days * 86_400)
    except LinkRefused:
        return None


def roles_of_person(request: Request, person: str) -> frozenset[str]:
    listed = directory_of(request).people.get(person.lower())
    roles = {ROLE_OF_PERSON[r].value for r in listed.roles} if listed else set()
    return frozenset(roles or {Role.OWNER.value})


def page_guard(*roles: Role) -> Callable[[Request], Principal]:
    """Like api.auth.require, for pages: a bearer token or the session cookie; refusals audited."""
    allowed = frozenset(r.value for r in roles)

    def dependency(request: Request) -> Principal:
        engine = request.app.state.engine
        principal = principal_of(engine, bearer(request)) or session_of(request)
        if principal is None:
            refused(engine, request, "anonymous", "no session or token")
            raise PageRefused(401, "not_signed_in")
        if not principal.roles & allowed:
            refused(engine, request, principal.person, f"roles {sorted(principal.roles)}; needs one of {sorted(allowed)}")
            raise PageRefused(403, "forbidden")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the role-matrix test
    return dependency


def refused_page(request: Request, refusal: PageRefused) -> HTMLResponse:
    """A refusal as a page: sign-in for 401; the reason otherwise (a known text key, or the words given)."""
    principal = session_of(request)
    lang = language_of(request, principal.person if principal else None)
    known = page_text(lang).get(refusal.message, refusal.message)
    message = known.format(roles=", ".join(sorted(principal.roles)) if principal else "") if known != refusal.message else known
    if refusal.status == 401:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return render(request, "login.html.j2", lang, 401, message=message, principal=None,
                      next=wanted if request.method == "GET" and wanted.startswith("/pages/") else None)
    return render(request, "notice.html.j2", lang, refusal.status, message=message, principal=principal, refused=True)
