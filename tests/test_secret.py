"""No public secret: `serve`, `worker` and `up` refuse a missing, empty, known-default or short secret
(real processes of the installed `stockwarden` command), `up` on the embedded default makes a private one
and keeps it, and nothing signs with an empty secret. The attack first: with the public default, a forged
session cookie and a forged "my cases" link signed anyone in as an admin."""

from __future__ import annotations

import email
import email.policy
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from temporalio.testing import WorkflowEnvironment

from notifications.links import read, read_my_cases, sign, sign_my_cases
from stockwarden.temporal import free_port

STOCKWARDEN = Path(sys.executable).parent / "stockwarden"
BAD = {"missing": None, "empty": "", "change-me": "change-me", "change-me-too": "change-me-too",
       "short": "k3Q9-x7Zr2"}
"""Each secret the commands must refuse; None: the variable is not set at all."""


def environment(secret: str | None, **more: str) -> dict[str, str]:
    """This process's environment without any secret of the test run's, then `secret` (unless None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKWARDEN_")}
    env.update(more)
    if secret is not None:
        env["STOCKWARDEN_SECRET_KEY"] = secret
    return env


@pytest.mark.asyncio(loop_scope="module")
async def test_serve_with_the_public_default_secret_let_a_forged_session_and_link_sign_in_as_admin(
        dev: WorkflowEnvironment, tmp_path: Path) -> None:
    """The attack of the issue: with STOCKWARDEN_SECRET_KEY unset, `serve` signed with "change-me"; a cookie
    and a "my cases" link signed with it by anyone were taken. Now `serve` does not start at all."""
    import asyncio

    port = free_port()
    env = environment(None, STOCKWARDEN_DATABASE_URL=f"sqlite:///{tmp_path / 'sw.db'}",
                      STOCKWARDEN_VAR_DIR=str(tmp_path / "var"),
                      STOCKWARDEN_TEMPORAL_ADDRESS=dev.client.service_client.config.target_host,
                      STOCKWARDEN_PUBLIC_URL=f"http://127.0.0.1:{port}")
    child = subprocess.Popen([str(STOCKWARDEN), "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,  # noqa: ASYNC220  (Popen returns at once)
                             stderr=subprocess.PIPE, text=True)
    base, forged_in = f"http://127.0.0.1:{port}", []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            while child.poll() is None:  # until it answers (the attack) or has exited (refused)
                try:
                    await http.get("/ready")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            if child.poll() is None:
                cookie = URLSafeTimedSerializer("change-me", salt="stockwarden.page-session").dumps(
                    {"p": "mallory@example.net", "r": ["admin"]})
                page = await http.get("/pages/cases", cookies={"sw_session": cookie})
                if page.status_code == 200:
                    forged_in.append("session cookie")
                entered = await http.get(f"/pages/enter/{sign_my_cases('change-me', 'admin@example.com')}")
                if entered.status_code == 303 and "sw_session" in entered.headers.get("set-cookie", ""):
                    forged_in.append("my-cases link")
    finally:
        if child.poll() is None:
            child.terminate()
        out, err = child.communicate(timeout=60)
    assert forged_in == [], f"forged with the public default: {forged_in}"
    assert child.returncode == 2, err[-2000:]
    assert "STOCKWARDEN_SECRET_KEY" in err and "Traceback" not in err + out, err


@pytest.mark.parametrize("command", ["serve", "worker", "up"])
@pytest.mark.parametrize("bad", list(BAD))
def test_serve_worker_and_up_refuse_a_missing_empty_default_or_short_secret(command: str, bad: str,
                                                                             tmp_path: Path) -> None:
    secret = BAD[bad]
    more = {"STOCKWARDEN_VAR_DIR": str(tmp_path / "var"), "STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "STOCKWARDEN_SMTP_PORT": str(free_port())}
    if command != "up" or bad in ("missing", "empty"):
        # `up` makes its own secret only on the embedded default: with a database named, it must be given one
        more["STOCKWARDEN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'sw.db'}"
    done = subprocess.run(check=False, args=[str(STOCKWARDEN), command, *(["--once"] if command == "up" else [])],
                          env=environment(secret, **more), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    said = done.stderr
    assert "Traceback" not in said + done.stdout, said
    assert "STOCKWARDEN_SECRET_KEY" in said and "secrets.token_urlsafe(48)" in said, said
    assert len(said.strip().splitlines()) == 1, said  # one paragraph, nothing before or after it
    assert not (tmp_path / "sw.db").exists()  # refused before touching anything
    assert not (tmp_path / "var" / "secret_key").exists()


def test_up_on_the_embedded_default_makes_a_private_secret_once_and_keeps_it(tmp_path: Path) -> None:
    """The README's first command on a fresh clone with nothing set: `up` makes var/secret_key (0600),
    says so once, and the next run signs with the same secret. Its Temporal (var/temporal.db) holds no
    address of a person in plain text."""
    more = {"STOCKWARDEN_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "STOCKWARDEN_SMTP_PORT": str(free_port())}
    first = subprocess.run(check=False, args=[str(STOCKWARDEN), "up", "--once", "--lots", "60"], env=environment(None, **more),
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    secret_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text(encoding="utf-8").strip()
    assert len(secret) >= 32 and first.stderr.count(str(secret_file)) == 1 and "Traceback" not in first.stderr
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in (tmp_path / "var" / "mail").glob("*.eml")]
    mail = [f"To: {m['To']}\n{m.get_body(('html', 'plain')).get_content()}" for m in messages]  # type: ignore[union-attr]
    assert mail, "the demo sent no messages"
    link = re.search(r"/act/([A-Za-z0-9_.\-]+)", "\n".join(mail))
    assert link is not None
    assert "@" in read(secret, link[1], 86_400).person  # the messages were signed with the file's secret

    again = subprocess.run(check=False, args=[str(STOCKWARDEN), "up", "--once"], env=environment(None, **more), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert str(secret_file) not in again.stderr  # said once only
    assert secret_file.read_text(encoding="utf-8").strip() == secret

    temporal = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("temporal.db*"))
    assert b"history" in temporal.lower() or len(temporal) > 100_000  # Temporal did store the cases there
    owners = set(re.findall(r"^To: .*?([\w.\-]+@[\w.\-]+)", "\n".join(mail), re.MULTILINE))
    assert owners
    for address in owners:
        assert address.encode() not in temporal, f"{address} is readable in var/temporal.db"

    given = subprocess.run(check=False, args=[str(STOCKWARDEN), "up", "--once"], env=environment("change-me", **more), cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert given.returncode == 2 and "STOCKWARDEN_SECRET_KEY" in given.stderr  # a secret set is checked


def test_nothing_signs_or_reads_with_an_empty_secret() -> None:
    # Page sessions are random ids kept on the server (api/sessions.py): no secret signs them.
    with pytest.raises(ValueError, match="secret"):
        sign("", "case-1", "zhang.wei@example.com", "acknowledge")
    with pytest.raises(ValueError, match="secret"):
        sign_my_cases("", "zhang.wei@example.com")
    forged = URLSafeTimedSerializer("", salt="stockwarden.action-link").dumps(
        {"c": "case-1", "p": "zhang.wei@example.com", "a": "acknowledge", "j": "x"})
    with pytest.raises(ValueError, match="secret"):
        read("", forged, 86_400)
    with pytest.raises(ValueError, match="secret"):
        read_my_cases("", URLSafeTimedSerializer("", salt="stockwarden.my-cases").dumps("a@example.com"), 86_400)


def test_settings_have_no_default_secret() -> None:
    from core.settings import Settings

    assert Settings.model_fields["secret_key"].default == ""
