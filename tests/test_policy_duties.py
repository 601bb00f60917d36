"""A policy that moves duties (owners, signers, approvals) takes a second person's signature: the attack of
issue 13 (a compliance officer naming themselves the QA signer and activating it alone), in the service,
the CLI and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from api.auth import create_token
from audit.trail import entries, verify
from core.settings import Settings
from governance.visibility import Role
from rules.models import PolicyPending
from rules.versions import (
    Activation,
    Pending,
    SecondSignatureRefused,
    activate,
    activate_text,
    active_version,
    approve_pending,
    pending_activations,
    reject_pending,
)
from tests.support.cli import run
from tests.support.data import GOOD_POLICY as GOOD

SELF_QA = GOOD.replace("version: 1", "version: 2").replace("committee: [a@example.com]",
                                                           "committee: [a@example.com]\nqa: [li.na@example.com]")
"""li.na, a compliance officer, names herself the QA signer."""


def _active_version(engine: Engine) -> int:
    with engine.connect() as connection:
        active = active_version(connection)
    assert active is not None
    return active[1].version


def test_naming_yourself_qa_signer_waits_for_a_second_person(engine: Engine) -> None:
    first = activate_text(engine, GOOD, "policies/test.yaml", actor="li.na@example.com")
    assert isinstance(first, Activation) and first.changed  # the first policy: nothing to move
    proposed = activate_text(engine, SELF_QA, "policies/test.yaml", actor="li.na@example.com")
    assert isinstance(proposed, Pending)
    assert [str(c) for c in proposed.changes] == ["qa: + li.na@example.com"]
    assert _active_version(engine) == 1  # not active yet
    with pytest.raises(SecondSignatureRefused, match="proposed pending activation"):
        approve_pending(engine, _id(proposed.row), signer="LI.NA@example.com ")  # nobody signs what they proposed
    assert _active_version(engine) == 1
    approved = approve_pending(engine, _id(proposed.row), signer="wang.fang@example.com", reason="checked")
    assert approved.version.version == 2 and approved.version.activated_by == "wang.fang@example.com"
    assert _active_version(engine) == 2
    with pytest.raises(SecondSignatureRefused, match="already approved by wang.fang"):
        approve_pending(engine, _id(proposed.row), signer="admin@example.com")
    with engine.connect() as connection:
        trail = [(e.actor, e.action) for e in entries(connection)]
        activation = entries(connection)[-2]
        assert verify(connection)[1] == []
    assert trail == [("li.na@example.com", "policy.activate"), ("li.na@example.com", "policy.proposed"),
                     ("wang.fang@example.com", "policy.activate"), ("wang.fang@example.com", "policy.approved")]
    assert activation.after["proposed_by"] == "li.na@example.com"


@pytest.mark.parametrize(("change", "what"), [
    (("owner: inventory@example.com", "owner: li.na@example.com"), "owners"),
    (("escalation: [li.na@example.com, committee]", "escalation: [committee]"), "owners"),
    (("committee: [a@example.com]", "committee: [a@example.com, li.na@example.com]"), "committee"),
    (("rules:", "approvals:\n  scrap: {committee_over_value: 10000}\nrules:"), "approvals"),
])
def test_every_duty_counts_and_thresholds_alone_do_not(engine: Engine, change: tuple[str, str], what: str) -> None:
    activate_text(engine, GOOD, "p.yaml", actor="li.na")
    draft = GOOD.replace("version: 1", "version: 2").replace(*change)
    proposed = activate_text(engine, draft, "p.yaml", actor="li.na")
    assert isinstance(proposed, Pending) and [c.what for c in proposed.changes] == [what]
    stricter = GOOD.replace("version: 1", "version: 3").replace("{gte: 5000}", "{gte: 8000}")
    assert isinstance(activate_text(engine, stricter, "p.yaml", actor="li.na"), Activation)
    assert _active_version(engine) == 3


def test_a_pending_activation_judged_against_another_version_or_rejected_cannot_be_signed(engine: Engine) -> None:
    activate_text(engine, GOOD, "p.yaml", actor="li.na")
    proposed = activate_text(engine, SELF_QA, "p.yaml", actor="li.na")
    assert isinstance(proposed, Pending)
    activate_text(engine, GOOD.replace("version: 1", "version: 3").replace("{gte: 5000}", "{gte: 6000}"), "p.yaml",
                  actor="li.na")
    with pytest.raises(SecondSignatureRefused, match="active policy changed since"):
        approve_pending(engine, _id(proposed.row), signer="wang.fang")
    with pytest.raises(SecondSignatureRefused, match="needs a reason"):
        reject_pending(engine, _id(proposed.row), signer="wang.fang", reason=" ")
    rejected = reject_pending(engine, _id(proposed.row), signer="wang.fang", reason="qa names the proposer")
    assert rejected.state == "rejected"
    with pytest.raises(SecondSignatureRefused, match="already rejected"):
        approve_pending(engine, _id(proposed.row), signer="admin")
    with pytest.raises(SecondSignatureRefused, match="no pending policy activation 99"):
        approve_pending(engine, 99, signer="admin")
    with engine.connect() as connection:
        assert pending_activations(connection) == []
        assert [p.state for p in pending_activations(connection, everything=True)] == ["rejected"]
    assert _active_version(engine) == 3


def test_the_cli_keeps_the_active_policy_until_another_person_signs(database_url: str, tmp_path: Path) -> None:
    env = {"STOCKWARDEN_DATABASE_URL": database_url, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")}
    (tmp_path / "v1.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "v2.yaml").write_text(SELF_QA, encoding="utf-8")
    assert run("policy", "activate", "v1.yaml", "--by", "li.na", env=env, cwd=tmp_path).returncode == 0
    proposed = run("policy", "activate", "v2.yaml", "--by", "li.na", env=env, cwd=tmp_path)
    assert proposed.returncode == 0, proposed.stderr
    assert "waits for a second signature (pending activation 1)" in proposed.stdout
    assert "qa: + li.na@example.com" in proposed.stdout
    assert "* test@1" in run("policy", "history", env=env, cwd=tmp_path).stdout
    assert "li.na" in run("policy", "pending", env=env, cwd=tmp_path).stdout
    own = run("policy", "approve", "1", "--by", "li.na", env=env, cwd=tmp_path)
    assert own.returncode == 1 and "a second person" in own.stderr and "Traceback" not in own.stderr
    signed = run("policy", "approve", "1", "--by", "wang.fang", env=env, cwd=tmp_path)
    assert signed.returncode == 0 and "test v2 activated, signed by wang.fang" in signed.stdout
    assert "* test@2" in run("policy", "history", env=env, cwd=tmp_path).stdout
    unknown = run("policy", "reject", "7", "--by", "wang.fang", "--reason", "no", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "no pending policy activation 7" in unknown.stderr


@pytest.mark.asyncio
async def test_over_http_the_proposer_cannot_sign_and_another_compliance_officer_can(engine: Engine,
                                                                                      tmp_path: Path) -> None:
    activate_text(engine, GOOD, "p.yaml", actor="li.na@example.com")
    li_na = {"Authorization": f"Bearer {create_token(engine, 'li.na@example.com', [Role.COMPLIANCE])}"}
    wang = {"Authorization": f"Bearer {create_token(engine, 'wang.fang@example.com', [Role.COMPLIANCE])}"}
    owner = {"Authorization": f"Bearer {create_token(engine, 'zhang.wei@example.com', [Role.OWNER])}"}
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]  # no Temporal needed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        posted = await client.post("/policies/activate", headers={**li_na, "Content-Type": "application/yaml"},
                                   content=SELF_QA.encode())
        assert posted.status_code == 202 and posted.json()["changes"] == ["qa: + li.na@example.com"]
        pending_id = posted.json()["pending"]
        listed = (await client.get("/policies/pending", headers=wang)).json()
        assert [p["pending"] for p in listed] == [pending_id]
        own = await client.post(f"/policies/pending/{pending_id}/approve", headers=li_na, json={})
        assert own.status_code == 409 and "a second person" in own.json()["detail"]
        assert (await client.post(f"/policies/pending/{pending_id}/approve", headers=owner, json={})).status_code == 403
        assert _active_version(engine) == 1
        signed = await client.post(f"/policies/pending/{pending_id}/approve", headers=wang, json={"reason": "ok"})
        assert signed.status_code == 200 and signed.json()["signed_by"] == "wang.fang@example.com"
        assert _active_version(engine) == 2
        again = await client.post(f"/policies/pending/{pending_id}/reject", headers=wang, json={"reason": "late"})
        assert again.status_code == 409


def test_activate_of_a_file_behaves_as_its_text(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "v1.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "v2.yaml").write_text(SELF_QA, encoding="utf-8")
    activate(engine, tmp_path / "v1.yaml", actor="li.na")
    assert isinstance(activate(engine, tmp_path / "v2.yaml", actor="li.na"), Pending)
    assert _active_version(engine) == 1


def _id(row: PolicyPending) -> int:
    """A stored pending activation's id (stored rows always have one)."""
    assert row.id is not None
    return row.id
