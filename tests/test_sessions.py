"""Page sessions name only the person: each attack the issue quotes, performed against the app over
HTTP (httpx against the ASGI app) on a real database. A forged cookie, a session after logout, after
its token is revoked or expired, after it expired itself, and after people.yaml took a role away: each
is refused on the next request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, select, update
from sqlmodel import col

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from governance.visibility import Role
from notifications.links import sign_my_cases

SECRET = "sessions-test-secret-of-some-length"
PEOPLE = """\
people:
  - email: li.na@example.com
    name: 李娜
    roles: [compliance]
    language: en
"""
PREVIEW = "/pages/policy-preview"
"""A page for compliance officers and admins only."""


def _client(engine: Engine, tmp_path: Path, **more: object) -> tuple[httpx.AsyncClient, Settings]:
    people = tmp_path / "people.yaml"
    people.write_text(PEOPLE, encoding="utf-8")
    settings = Settings(var_dir=tmp_path / "var", secret_key=SECRET, people_file=people, **more)  # type: ignore[arg-type]
    app = create_app(engine, None, settings)  # type: ignore[arg-type]  # no Temporal: pages that only read
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages"), settings


async def _signed_in(client: httpx.AsyncClient, token: str) -> str:
    """Sign in on the login page with a token; the session cookie's value."""
    answer = await client.post("/pages/login", data={"token": token})
    assert answer.status_code == 303, answer.text
    return client.cookies["sw_session"]


@pytest.mark.asyncio
async def test_a_cookie_forged_with_the_secret_and_carrying_admin_gets_no_admin_page(engine: Engine, tmp_path: Path) -> None:
    """The old cookie format, {"p": person, "r": roles} signed with the (known) secret: it chose admin."""
    client, _ = _client(engine, tmp_path)
    forged = URLSafeTimedSerializer(SECRET, salt="stockwarden.page-session").dumps(
        {"p": "mallory@example.com", "r": ["admin"]})
    async with client:
        client.cookies.set("sw_session", forged)
        answer = await client.get(PREVIEW, params={"lang": "en"})
        assert answer.status_code == 401 and "Please sign in" in answer.text
        assert "mallory" not in answer.text
        client.cookies.set("sw_session", "a-guessed-session-id")
        assert (await client.get("/pages/cases")).status_code == 401


@pytest.mark.asyncio
async def test_a_session_id_is_refused_after_logout(engine: Engine, tmp_path: Path) -> None:
    client, _ = _client(engine, tmp_path)
    token = create_token(engine, "li.na@example.com", [Role.COMPLIANCE])
    async with client:
        kept = await _signed_in(client, token)
        assert (await client.get(PREVIEW)).status_code == 200
        out = await client.post("/pages/logout")
        assert out.status_code == 303 and out.headers["location"] == "/pages/login?signed_out=1"
        assert "You are signed out" in (await client.get(out.headers["location"] + "&lang=en")).text
        client.cookies.set("sw_session", kept)  # the cookie copied before logout, sent again
        assert (await client.get(PREVIEW)).status_code == 401


@pytest.mark.asyncio
async def test_a_session_is_refused_once_its_token_is_revoked(engine: Engine, tmp_path: Path) -> None:
    from api.auth import revoke_token
    from api.models import ApiToken

    client, _ = _client(engine, tmp_path)
    token = create_token(engine, "li.na@example.com", [Role.COMPLIANCE])
    other = create_token(engine, "li.na@example.com", [Role.COMPLIANCE])
    async with client:
        await _signed_in(client, token)
        assert (await client.get(PREVIEW)).status_code == 200
        with engine.connect() as connection:
            token_id = connection.execute(select(col(ApiToken.id)).order_by(col(ApiToken.id))).scalars().first()
        assert token_id is not None
        revoked = revoke_token(engine, token_id, by="admin@example.com")
        assert revoked.revoked_at is not None
        assert (await client.get(PREVIEW)).status_code == 401
        assert (await client.post("/pages/login", data={"token": token})).status_code == 401  # nor a new sign-in
        await _signed_in(client, other)  # another token of hers still works
        assert (await client.get(PREVIEW)).status_code == 200


@pytest.mark.asyncio
async def test_an_expired_session_and_a_session_whose_token_expired_are_refused(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import select

    from api.models import ApiToken, PageSession
    from core.db import as_utc

    client, _ = _client(engine, tmp_path, session_hours=2)
    token = create_token(engine, "li.na@example.com", [Role.COMPLIANCE])
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with client:
        await _signed_in(client, token)
        assert (await client.get(PREVIEW)).status_code == 200
        with engine.connect() as connection:
            [row] = connection.execute(select(PageSession)).all()
        assert (row.person, row.began_with, row.token_id) == ("li.na@example.com", "token", 1)
        assert as_utc(row.expires_at) - as_utc(row.created_at) == timedelta(hours=2)  # STOCKWARDEN_SESSION_HOURS
        with engine.begin() as connection:  # as twelve hours passing would leave it
            connection.execute(update(PageSession).values(expires_at=past))
        assert (await client.get(PREVIEW)).status_code == 401
        await _signed_in(client, token)
        assert (await client.get(PREVIEW)).status_code == 200
        with engine.begin() as connection:  # the token's own expiry passes while the session lasts
            connection.execute(update(ApiToken).values(expires_at=past))
        assert (await client.get(PREVIEW)).status_code == 401


@pytest.mark.asyncio
async def test_a_person_whose_roles_change_in_people_yaml_loses_the_role_on_the_next_request(
        engine: Engine, tmp_path: Path) -> None:
    client, settings = _client(engine, tmp_path)
    async with client:
        entered = await client.get(f"/pages/enter/{sign_my_cases(SECRET, 'li.na@example.com')}")
        assert entered.status_code == 303 and entered.headers["location"] == "/pages/cases"
        assert (await client.get(PREVIEW)).status_code == 200  # compliance, from people.yaml
        settings.people_file.write_text(PEOPLE.replace("[compliance]", "[owner]"), encoding="utf-8")
        refused = await client.get(PREVIEW, params={"lang": "en"})
        assert refused.status_code == 403 and "not for your roles (owner)" in refused.text
        assert (await client.get("/pages/cases")).status_code == 200  # still signed in, as an owner
