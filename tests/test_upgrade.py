"""The upgrade from cases per (rule, SKU, site) to one case per stock position, on a database and Temporal
histories the previous release made (tests/fixtures/per_rule_release, made by its make.py on 0459185).

The database is migrated to head; the per-rule workflows are started again from their histories' inputs
on a task queue no worker polls (the new worker has no "CaseWorkflow": they need only exist to be ended);
then a scan on the current code merges each SKU-site's open per-rule cases into its one new case."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, select, text
from sqlmodel import col
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from audit.models import AuditEntry
from audit.trail import verify
from core.case import CaseLine, CaseView, from_json
from core.db import alembic_config, make_engine, migrate
from governance.models import CaseRow, LotReservation
from governance.upgrade import NO_FINDING, open_per_rule_cases, per_rule_merges, record_merge
from stockwarden.temporal import build_worker
from tests.support.databases import PG_ADMIN_URL
from workflows.scan import ScanRequest, ScanWorkflow

FIXTURE = Path(__file__).parent / "fixtures" / "per_rule_release"
OLD_TYPE = "CaseWorkflow"
RELEASE_SCHEMA = "0015"
"""The schema of release 0459185, whose database the fixture holds."""


@pytest.fixture(params=["sqlite", "postgresql"])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The previous release's database migrated to head: on SQLite the fixture file itself (copied); on
    PostgreSQL the same rows, loaded into a database at the release's schema (0015) before migrating."""
    path = tmp_path / "stockwarden.db"
    shutil.copy(FIXTURE / "stockwarden.db", path)
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    name = f"sw_upgrade_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        command.upgrade(alembic_config(engine), RELEASE_SCHEMA)
        load_rows(make_engine(f"sqlite:///{path}"), engine)
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_rows(source: Engine, target: Engine) -> None:
    """Copy every row of the release's SQLite database into PostgreSQL at the same schema, parents first,
    then move each id sequence past the ids copied."""
    tables, into = MetaData(), MetaData()
    tables.reflect(source)
    into.reflect(target)
    with source.connect() as reading, target.begin() as writing:
        writing.exec_driver_sql("SET TIME ZONE 'UTC'")  # SQLite's naive moments were written as UTC
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(row._mapping) for row in reading.execute(table.select())]
            if rows:
                writing.execute(into.tables[table.name].insert(), rows)
            for column in into.tables[table.name].primary_key.columns:
                sequence = writing.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                           {"t": table.name, "c": column.name}).scalar()
                if sequence and rows:
                    writing.execute(text(f"SELECT setval('{sequence}', (SELECT max({column.name}) FROM {table.name}))"))
    source.dispose()


async def start_old_cases(temporal: WorkflowEnvironment) -> list[str]:
    """Start each per-rule workflow of the fixture again, with the input its history began with."""
    plain = DataConverter.default
    started = []
    for data in json.loads((FIXTURE / "histories.json").read_text(encoding="utf-8")):
        history = WorkflowHistory.from_json("old", data)
        first = history.events[0].workflow_execution_started_event_attributes
        assert first.workflow_type.name == OLD_TYPE
        (case,) = await plain.decode(first.input.payloads, [dict])
        await temporal.client.start_workflow(OLD_TYPE, case, id=case["case_id"], task_queue=f"old-{uuid.uuid4()}")
        started.append(case["case_id"])
    return started


def rows(engine: Engine) -> dict[str, CaseRow]:
    with engine.connect() as connection:
        return {r.id: r for r in (CaseRow.model_validate(x._mapping) for x in connection.execute(select(CaseRow)))}


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with engine.connect() as connection:
        return [AuditEntry.model_validate(x._mapping) for x in connection.execute(
            select(AuditEntry).where(col(AuditEntry.action) == action).order_by(col(AuditEntry.seq)))]


def lots(row: CaseRow) -> set[tuple[str, str]]:
    return {(line.lot, line.serial) for line in from_json(list[CaseLine], row.lines) if line.lot or line.serial}


async def recorded(engine: Engine, case_id: str, action: str) -> None:
    """Wait (up to a minute) for the case to record `action`: new cases record their steps on their own."""
    for _ in range(600):
        if any(e.subject == f"case:{case_id}" for e in audit(engine, action)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never recorded {action}")


@pytest.mark.asyncio
async def test_the_first_scan_after_the_upgrade_merges_each_sku_sites_per_rule_cases_into_its_one_case(
        temporal: WorkflowEnvironment, upgraded: Engine) -> None:
    acted = json.loads((FIXTURE / "acted.json").read_text(encoding="utf-8"))
    old = {case: row for case, row in rows(upgraded).items() if row.position == ""}
    assert old and {r.state for r in old.values()} >= {"open", "acknowledged", "awaiting_approval"}
    assert sorted(await start_old_cases(temporal)) == sorted(old)
    old_timelines = {case: [f"{e.action} by {e.actor}" for e in audit_of(upgraded, case)] for case in old}

    queue = str(uuid.uuid4())
    async with build_worker(temporal.client, upgraded, queue):
        await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2), id=f"scan-{queue}",
                                               task_queue=queue)
        after = rows(upgraded)
        new = {case: row for case, row in after.items() if row.position}
        merged = {e.subject.removeprefix("case:"): e for e in audit(upgraded, "case.merged") if e.subject[5:] in old}
        assert set(merged) == set(old)  # every per-rule case was ended, each with its audit entry
        for case, entry in merged.items():
            assert after[case].state == "cancelled" and entry.before == old[case].state
            assert entry.actor == "stockwarden" and entry.workflow_id == case
            description = await temporal.client.get_workflow_handle(case).describe()
            assert description.status == WorkflowExecutionStatus.TERMINATED
            if entry.after is None:
                assert entry.reason == "resolved at upgrade: the finding no longer holds"
                assert not any((r.sku, r.site) == (old[case].sku, old[case].site) for r in new.values())
                continue
            assert entry.after in entry.reason
            await recorded(upgraded, entry.after, "case.merged")
            taker = rows(upgraded)[entry.after]
            assert (taker.sku, taker.site) == (old[case].sku, old[case].site)
            assert lots(old[case]) <= lots(taker)  # the old case's lots are lines of its new case
        takers = {e.after for e in merged.values() if e.after}
        assert takers and takers <= set(new)
        for sku_site in {(r.sku, r.site) for r in old.values()}:  # one case per SKU-site here (one owner each)
            assert len({merged[c].after for c, r in old.items() if (r.sku, r.site) == sku_site}) == 1

        # The new case of the SKU-site the owner worked on holds the old timelines and one merged step.
        taker_id = merged[acted["awaiting_approval"]].after
        sku_site_old = sorted(c for c, r in old.items() if (r.sku, r.site) == (acted["sku"], acted["site"]))
        assert {merged[c].after for c in sku_site_old} == {taker_id} and len(sku_site_old) >= 3
        await recorded(upgraded, taker_id, "case.plan_returned")
        view = await temporal.client.get_workflow_handle(taker_id).query("view", result_type=CaseView)
        for case in sku_site_old:
            kept = [entry.removeprefix(f"{case}: ") for entry in view.timeline if entry.startswith(f"{case}: ")]
            assert [step(k) for k in kept] == old_timelines[case]
        steps = [step(entry) for entry in view.timeline if not entry.startswith("case/")]
        assert steps[:4] == [
            "case.opened by stockwarden", "case.merged by stockwarden", "case.approval_requested by stockwarden",
            "case.plan_returned by stockwarden"]
        (merge_entry,) = [e for e in audit(upgraded, "case.merged") if e.subject == f"case:{taker_id}"]
        assert merge_entry.after == sku_site_old

        # The plan awaiting the committee is carried with QA's signature; the second plan on the same lot
        # is returned to its proposer and the owner with the reason.
        assert view.state == "awaiting_approval" and view.proposal is not None
        assert view.proposal.disposition == "scrap" and view.proposal.requires == ["committee"]
        assert [(s.signer, s.meaning, s.role) for s in view.proposal.signatures] == [
            ("qa.officer@example.com", "approved", "qa")]
        assert view.proposal.by == "zhang.wei@example.com" and view.proposal.reason == "damaged packaging"
        with upgraded.connect() as connection:  # its lot is held for it against every other plan
            holds = [(h.lot, h.serial, h.quantity, h.state) for h in connection.execute(
                select(LotReservation).where(col(LotReservation.case_id) == taker_id))]
        assert holds == [
            (line.lot, line.serial, Decimal(line.quantity), "held") for line in view.proposal.lines]
        (returned,) = [e for e in audit(upgraded, "case.plan_returned") if e.subject == f"case:{taker_id}"]
        assert returned.after == acted["second_proposal"]
        assert "already carries another merged case's plan" in returned.reason

        # A second scan merges nothing again and every chain entry still holds.
        ended = len(audit(upgraded, "case.merged"))
        await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2), id=f"scan-2-{queue}",
                                               task_queue=queue)
        assert len(audit(upgraded, "case.merged")) == ended
        assert {case: r.state for case, r in rows(upgraded).items() if case in old} == {c: "cancelled" for c in old}
    with upgraded.connect() as connection:
        count, breaks = verify(connection)
    assert count > 0 and breaks == []


def step(entry: str) -> str:
    """A timeline entry ("<at> <action> by <actor>: <reason>") without its time and reason."""
    return entry.split(" ", 1)[1].split(": ", 1)[0]


def audit_of(engine: Engine, case_id: str) -> list[AuditEntry]:
    with engine.connect() as connection:
        return [AuditEntry.model_validate(x._mapping) for x in connection.execute(
            select(AuditEntry).where(col(AuditEntry.subject) == f"case:{case_id}").order_by(col(AuditEntry.seq)))]


def test_a_per_rule_case_whose_sku_site_has_no_new_case_is_ended_naming_none_once(upgraded: Engine) -> None:
    """The findings cleared: no position case takes the old case over, so it ends as resolved at upgrade."""
    with upgraded.connect() as connection:
        merges = per_rule_merges(connection, [])
    assert len(merges) == len(open_per_rule_cases_of(upgraded)) > 0
    assert {(m.new_case_id, m.reason_if_returned, m.pending) for m in merges} == {("", NO_FINDING, None)}
    signed = next(m for m in merges if m.signatures)
    assert [s.signer for s in signed.signatures] == ["qa.officer@example.com"]
    assert [step(entry) for entry in signed.timeline] == [
        f"{e.action} by {e.actor}" for e in audit_of(upgraded, signed.old_case_id)]
    at = datetime(2026, 11, 26, tzinfo=UTC)
    with upgraded.begin() as connection:
        assert record_merge(connection, merges[0], at)
    with upgraded.begin() as connection:
        assert not record_merge(connection, merges[0], at)  # a retried activity ends nothing twice
    (entry,) = audit(upgraded, "case.merged")
    assert (entry.subject, entry.after, entry.reason) == (f"case:{merges[0].old_case_id}", None, NO_FINDING)
    assert rows(upgraded)[merges[0].old_case_id].state == "cancelled"
    with upgraded.connect() as connection:
        assert verify(connection)[1] == []


def open_per_rule_cases_of(engine: Engine) -> list[CaseRow]:
    with engine.connect() as connection:
        return open_per_rule_cases(connection)


@pytest.mark.asyncio
async def test_instructions_out_under_a_per_rule_case_await_their_confirmation_under_the_new_case(
        temporal: WorkflowEnvironment, upgraded: Engine) -> None:
    """A per-rule case whose scrap was at the ERP when the upgrade came (its outbox row pending): the new
    case of its position takes the instruction over (the row moves to it, in the trail), waits for its
    confirmation, and a confirmation through the new case ends it; nothing is instructed again."""
    from core.case import Confirm, Instruction, InstructionLine, InstructionRequest, Proposal, to_json
    from governance.models import ErpInstruction
    from governance.outbox import issue

    acted = json.loads((FIXTURE / "acted.json").read_text(encoding="utf-8"))
    old = [r for r in open_rows(upgraded) if (r.sku, r.site) != (acted["sku"], acted["site"])
           and any(line.lot for line in from_json(list[CaseLine], r.lines))]
    chosen = old[0]
    line = next(line for line in from_json(list[CaseLine], chosen.lines) if line.lot)
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    with upgraded.begin() as connection:
        [instruction_id] = issue(connection, InstructionRequest(
            chosen.id, 1, "scrap", chosen.sku, chosen.site, "", "", "",
            [InstructionLine(line.lot, line.serial, "1", line.value)], ["qa.officer@example.com"], "old", at.isoformat()))
        proposal = Proposal(1, "scrap", "zhang.wei@example.com", at.isoformat(), [], "", "", "damaged", line.value, [],
                            instructions=[Instruction(instruction_id, line.lot, line.serial, "1", disposition="scrap")])
        connection.execute(CaseRow.__table__.update().where(CaseRow.__table__.c.id == chosen.id).values(  # type: ignore[attr-defined]
            state="awaiting_confirmation", proposal=to_json(proposal)))
    await start_old_cases(temporal)
    queue = str(uuid.uuid4())
    async with build_worker(temporal.client, upgraded, queue):
        await temporal.client.execute_workflow(ScanWorkflow.run, ScanRequest(partitions=2), id=f"scan-{queue}",
                                               task_queue=queue)
        (merged,) = [e for e in audit(upgraded, "case.merged") if e.subject == f"case:{chosen.id}"]
        taker = merged.after
        assert taker and "stay in the ERP outbox" not in merged.reason
        await recorded(upgraded, taker, "case.instructions_taken_over")
        handle = temporal.client.get_workflow_handle(taker)
        view = await handle.query("view", result_type=CaseView)
        assert view.state == "awaiting_confirmation" and view.proposal is not None
        assert [i.id for i in view.proposal.instructions] == [instruction_id]
        with upgraded.connect() as connection:
            rows_out = connection.execute(select(ErpInstruction).where(col(ErpInstruction.id) == instruction_id)).all()
        assert [r.case_id for r in rows_out] == [taker]
        (moved,) = [e for e in audit(upgraded, "instruction.moved") if e.subject == f"instruction:{instruction_id}"]
        assert (moved.before, moved.after) == ({"case": chosen.id}, {"case": taker})
        await handle.execute_update("confirm", Confirm("erp", instruction_id, "SCR-9"), result_type=str)
        await recorded(upgraded, taker, "case.instruction_confirmed")
        with upgraded.connect() as connection:
            states = connection.execute(select(col(ErpInstruction.case_id), col(ErpInstruction.state))
                                        .where(col(ErpInstruction.case_id).in_([chosen.id, taker]))).all()
        assert [tuple(s) for s in states] == [(taker, "confirmed")]  # one instruction, never sent again
    with upgraded.connect() as connection:
        assert verify(connection)[1] == []


def open_rows(engine: Engine) -> list[CaseRow]:
    with engine.connect() as connection:
        return open_per_rule_cases(connection)
