"""CaseWorkflow: one governance case per stock position (SKU, site, owner), from finding to resolution.

The owner is assigned and notified, reminded before the acknowledge deadline and, when it lapses, the
case escalates along the owner's chain (a manager, then the committee), each step notified and recorded;
the resolve deadline likewise. Scans refresh the case's lines (the position's lots, each with every finding
on it); a more severe finding tightens the case's deadlines; when the last line clears the case resolves
by itself. The owner proposes a plan (per line a disposition and a quantity), whose lots are held against
every other plan in the company; the signatures the plan's actions need together (QA, the committee over
a value) are collected as electronic signatures; the approved plan becomes one ERP instruction per line in
the outbox, after its stock is read again (nothing goes out for stock that is gone). An instruction is
confirmed by an Update, or by a later snapshot that shows that disposition happening to that lot; the case
resolves when every line is confirmed, and goes back to its owner with whatever a plan left. People act
through Updates whose validators refuse a wrong actor or a wrong state before anything enters history.
Deterministic: time from workflow.now(), deadlines as timers, all I/O in activities.
"""

from __future__ import annotations

import asyncio
from copy import deepcopy
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities
    from core.case import (
        ACKNOWLEDGED,
        APPROVED,
        APPROVED_MEANING,
        AUTHENTICATIONS,
        AWAITING_APPROVAL,
        AWAITING_CONFIRMATION,
        CANCELLED,
        CASE_WORKFLOW,
        COMMITTEE,
        DISPOSITION_PROPOSED,
        EXECUTING,
        FINAL,
        NEVER_FOR_UNUSABLE,
        OPEN,
        REALLOCATE,
        REFRESH,
        REJECTED_MEANING,
        RESOLVED,
        RESOLVED_BY_ITSELF,
        Acknowledge,
        Cancel,
        CaseEvent,
        CaseInput,
        CaseLine,
        CaseState,
        CaseStatus,
        CaseView,
        Change,
        Comment,
        Confirm,
        Confirmation,
        Evidenced,
        HoldRequest,
        Instruction,
        InstructionLine,
        InstructionRequest,
        Lines,
        MergedCase,
        Notify,
        Proposal,
        ProposalLine,
        Propose,
        Reassign,
        Sign,
        Signature,
        Snooze,
        StockCheck,
        TargetCheck,
        severity_rank,
    )
    from notifications.models import URGENT_EVENTS
    from workflows.disposition import (
        PO_LINE,
        line_value,
        plan_lines,
        plan_name,
        proposal_problems,
        required_signatures,
        role_filled,
        signature_problem,
        signers_for,
        unusable,
        values_by_disposition,
    )
    from workflows.notifications import DISPATCHER_ID

REMIND_AT = 0.75
"""Share of a deadline's window after which the people responsible are reminded."""
WAITING_FOR_PEOPLE = {OPEN, ACKNOWLEDGED, AWAITING_APPROVAL, AWAITING_CONFIRMATION}
SNAPSHOT = "snapshot"
"""The actor of a confirmation that a later snapshot gave by showing the disposition happen to the lot."""
TRIM_CHECKS = "trim-checks-usability-orders-and-holds"
"""Patch: a trim also drops lines whose lot became unusable for their disposition and PO lines no longer
open, and shrinks the holds of lines it cut (histories from before take the old path on replay)."""
PLANNED = {DISPOSITION_PROPOSED, AWAITING_APPROVAL, APPROVED}
"""States with a plan whose stock is held but no instruction out: stock that goes meanwhile trims the plan."""


def _looks_like_address(text: str) -> bool:
    """A plain check that runs inside the workflow sandbox; addresses in policies are checked fully."""
    name, at, domain = text.partition("@")
    return bool(name and at and "." in domain and " " not in text)


def _refuse_unless(check: Any, request: Any) -> None:
    """Run a validator again inside a handler, after an await: the case may have moved on meanwhile.
    A handler that raises ApplicationError fails only the Update, never the workflow."""
    try:
        check(request)
    except ValueError as problem:
        raise ApplicationError(str(problem), type="Refused", non_retryable=True) from None


@workflow.defn(name=CASE_WORKFLOW)
class CaseWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        """Set up from the input before any message is handled: an Update may arrive with the start."""
        self.input = case
        self.state: CaseStatus = OPEN
        self.lines: list[CaseLine] = []
        self.got_lines = False
        self.assignees = [case.owner]
        self.level = 0
        self.timeline: list[str] = []
        self.events = 0
        opened = self.opened_at = workflow.now()
        self.snapshot_id = case.snapshot_id
        self.pending: Lines | None = None
        """The latest refresh whose severity, deadlines, stock and evidence the case has yet to weigh."""
        self.acting = 0
        """Propose and Sign handlers between two awaits: a refresh waits to trim the plan until they are done."""
        self.recorded_lines: tuple[tuple[tuple[str, str, str], str], ...] = ()
        self.due = {"acknowledge": opened + timedelta(seconds=case.acknowledge_seconds),
                    "resolve": opened + timedelta(seconds=case.resolve_seconds)}
        self.deadline_moved = False
        self.snoozed_seconds = 0.0
        self.reminded = ""
        """The deadline ("acknowledge" or "resolve") whose reminder went out; reset when it moves on."""
        self.proposals = 0
        self.proposal: Proposal | None = None
        self.finished_plan = 0
        """The plan whose last instruction was confirmed: its end (`_plan_done`) runs once."""
        self.opened = case.carried is not None
        self.recording = asyncio.Lock()
        """Case events reach the mirror and the audit trail one at a time, in order."""
        if case.carried is not None:
            self._restore(case.carried)

    # --- messages: owners -------------------------------------------------------------------

    @workflow.signal(name=REFRESH)
    def refresh(self, update: Lines) -> None:
        self.lines = list(update.lines)
        self.got_lines = True
        self.snapshot_id = update.snapshot_id or self.snapshot_id
        self.pending = update

    @workflow.update
    async def acknowledge(self, request: Acknowledge) -> str:
        await workflow.wait_condition(lambda: self.opened)
        self.state = ACKNOWLEDGED
        await self._record("case.acknowledged", request.actor, before=OPEN)
        return self.state

    @acknowledge.validator
    def _validate_acknowledge(self, request: Acknowledge) -> None:
        if self.state != OPEN:
            raise ValueError(f"the case is {self.state}; only an open case can be acknowledged")
        self._require_responsible(request.actor)

    @workflow.update
    async def comment(self, request: Comment) -> int:
        await workflow.wait_condition(lambda: self.opened)
        await self._record("case.commented", request.actor, reason=request.text)
        return len(self.timeline)

    @comment.validator
    def _validate_comment(self, request: Comment) -> None:
        if not request.actor.strip() or not request.text.strip():
            raise ValueError("a comment needs an author and a text")
        if self.state in FINAL:
            raise ValueError(f"the case is {self.state}; it takes no more comments")

    @workflow.update
    async def reassign(self, request: Reassign) -> list[str]:
        await workflow.wait_condition(lambda: self.opened)
        before = list(self.assignees)
        self.assignees = [request.to] + [a for a in before if a not in (request.actor, request.to)]
        await self._record("case.reassigned", request.actor, before=before, after=list(self.assignees),
                           reason=request.reason, notify=("case_assigned", [request.to]))
        return list(self.assignees)

    @reassign.validator
    def _validate_reassign(self, request: Reassign) -> None:
        self._require_open_to(request.actor)
        if not _looks_like_address(request.to):
            raise ValueError(f"'{request.to}' is not an email address")
        if request.to in self.assignees:
            raise ValueError(f"{request.to} is already responsible for this case")
        if not request.reason.strip():
            raise ValueError("a reassignment needs a reason")

    @workflow.update
    async def snooze(self, request: Snooze) -> str:
        await workflow.wait_condition(lambda: self.opened)
        phase = self._phase()
        self.snoozed_seconds += request.days * 86_400
        before = self.due[phase].isoformat()
        self.due[phase] += timedelta(days=request.days)
        self.deadline_moved = True
        await self._record("case.snoozed", request.actor, before=before, after=self.due[phase].isoformat(),
                           reason=request.reason)
        return self.due[phase].isoformat()

    @snooze.validator
    def _validate_snooze(self, request: Snooze) -> None:
        self._require_open_to(request.actor)
        if request.days <= 0:
            raise ValueError("snooze by a positive number of days")
        left = (self.input.snooze_max_seconds - self.snoozed_seconds) / 86_400
        if request.days > left:
            raise ValueError(f"the policy allows {left:g} more day(s) of snooze on this case, not {request.days:g}")
        if not request.reason.strip():
            raise ValueError("a snooze needs a reason")

    # --- messages: the disposition ------------------------------------------------------------

    @workflow.update
    async def propose(self, request: Propose) -> str:
        await workflow.wait_condition(lambda: self.opened)
        self.proposals += 1  # taken before any await: two proposals at once never share a plan number
        plan_no = self.proposals
        plan = [replace(line, line_no=n) for n, line in enumerate(plan_lines(request), start=1)]
        self.acting += 1
        try:
            return await self._propose(request, plan, plan_no)
        finally:
            self.acting -= 1

    async def _propose(self, request: Propose, plan: list[ProposalLine], plan_no: int) -> str:
        targets: dict[tuple[str, str], Decimal] = {}
        for line in plan:
            if line.disposition in (REALLOCATE, PO_LINE):
                key = (line.disposition, line.target)
                targets[key] = targets.get(key, Decimal(0)) + Decimal(line.quantity)
        for (disposition, target), quantity in targets.items():
            problems = await workflow.execute_activity_method(
                CaseActivities.check_target,
                TargetCheck(self.input.sku, self.input.site, disposition, target, str(quantity)),
                start_to_close_timeout=timedelta(seconds=30))
            if problems:
                raise ApplicationError("; ".join(problems), type="Refused", non_retryable=True)
        _refuse_unless(self._validate_propose, request)  # the case may have moved on while this waited
        hold = HoldRequest(self.input.case_id, plan_no, self.input.sku, self.input.site, plan, "proposed",
                           workflow.now().isoformat())
        problems = await workflow.execute_activity_method(CaseActivities.hold_stock, hold,
                                                          start_to_close_timeout=timedelta(seconds=30))
        if problems:
            raise ApplicationError("; ".join(problems), type="Refused", non_retryable=True)
        try:
            _refuse_unless(self._validate_propose, request)
        except ApplicationError:
            await self._release(plan_no, "the case moved on while its stock was held")
            raise
        before = self.state
        values = values_by_disposition(self.lines, plan)
        value = sum(values.values(), Decimal(0)).quantize(Decimal("0.01"))
        disposition = plan_name(plan)
        self.proposal = Proposal(
            no=plan_no, disposition=disposition, by=request.actor, at=workflow.now().isoformat(),
            lines=plan, target=request.target, postpone_to=request.postpone_to,
            reason=request.reason, value=str(value), requires=required_signatures(self.input, values))
        self.state = DISPOSITION_PROPOSED
        await self._record("case.disposition_proposed", request.actor, before=before,
                           after={"disposition": disposition, "value": str(value), "target": request.target,
                                  "lines": [{"line": line.name, "disposition": line.disposition,
                                             "quantity": line.quantity, "target": line.target} for line in plan]},
                           reason=request.reason)
        outcome = self.state = AWAITING_APPROVAL if self.proposal.requires else APPROVED
        if outcome == AWAITING_APPROVAL:
            await self._record("case.approval_requested", "stockwarden", after=list(self.proposal.requires),
                               notify=("approval_requested", self._approvers()))
        else:
            await self._record("case.approved", "stockwarden", before=DISPOSITION_PROPOSED,
                               reason="the policy asks no signature for this disposition")
        return outcome  # the case may already be executing by the time the caller hears back

    @propose.validator
    def _validate_propose(self, request: Propose) -> None:
        self._require_open_to(request.actor)
        problems = proposal_problems(self.input, self.lines, request, workflow.now().date())
        if problems:
            raise ValueError("; ".join(problems))

    @workflow.update
    async def sign(self, request: Sign) -> str:
        """An electronic signature on the open proposal: its signer, UTC time and meaning are recorded."""
        await workflow.wait_condition(lambda: self.opened)
        self.acting += 1
        try:
            return await self._sign(request)
        finally:
            self.acting -= 1

    async def _sign(self, request: Sign) -> str:
        _refuse_unless(self._check_sign, request)  # another signature may have landed since validation
        proposal = self.proposal
        assert proposal is not None
        role = role_filled(self.input, proposal, request.actor) if request.meaning == APPROVED_MEANING else ""
        signature_at = workflow.now().isoformat()
        proposal.signatures.append(Signature(request.actor, request.meaning, role, signature_at, request.reason,
                                             request.authenticated_by))
        if role:
            proposal.requires.remove(role)
        await self._record("case.signed", request.actor,
                           after={"proposal": proposal.no, "meaning": request.meaning, "role": role,
                                  "signed_at": signature_at, "authenticated_by": request.authenticated_by},
                           reason=request.reason)
        outcome = self.state
        if request.meaning == REJECTED_MEANING:
            outcome = self.state = ACKNOWLEDGED
            await self._release(proposal.no, f"rejected by {request.actor}")
            await self._record("case.rejected", request.actor, before=AWAITING_APPROVAL, after=ACKNOWLEDGED,
                               reason=request.reason, notify=("rejected", self.assignees))
        elif request.meaning == APPROVED_MEANING and not proposal.requires:
            outcome = self.state = APPROVED
            await self._record("case.approved", request.actor, before=AWAITING_APPROVAL, after=APPROVED,
                               notify=("approved", self.assignees))
        return outcome

    @sign.validator
    def _validate_sign(self, request: Sign) -> None:
        """Only in the validator, which replay does not run: a Sign accepted before signers were asked
        for a second component replays unchanged."""
        if request.authenticated_by not in AUTHENTICATIONS:
            raise ValueError("a signature needs its signer authenticated at signing time (authenticated_by: "
                             f"{', '.join(AUTHENTICATIONS)}); this one says {request.authenticated_by!r}")
        self._check_sign(request)

    def _check_sign(self, request: Sign) -> None:
        if self.state != AWAITING_APPROVAL or self.proposal is None:
            raise ValueError(f"the case is {self.state}; there is no proposal awaiting signatures")
        problem = signature_problem(self.input, self.proposal, request.actor, request.meaning, request.reason,
                                    self.assignees)
        if problem:
            raise ValueError(problem)

    @workflow.update
    async def confirm(self, request: Confirm) -> str:
        """The ERP (or a person for it) confirms one instruction was carried out."""
        await workflow.wait_condition(lambda: self.opened)
        _refuse_unless(self._validate_confirm, request)  # a scan may have confirmed it meanwhile
        await self._confirm([request.instruction], request.actor, request.note, [request.quantity])
        return self.state

    @confirm.validator
    def _validate_confirm(self, request: Confirm) -> None:
        if not request.actor.strip():
            raise ValueError("a confirmation needs the name of who confirms")
        if self.state != AWAITING_CONFIRMATION or self.proposal is None:
            raise ValueError(f"the case is {self.state}; it awaits no confirmation")
        pending = [i.id for i in self.proposal.instructions if not i.confirmed_by]
        if request.instruction not in pending:
            raise ValueError(f"instruction {request.instruction} is not pending on this case "
                             f"(pending: {', '.join(map(str, pending)) or 'none'})")
        if request.quantity:
            instructed = next(i.quantity for i in self.proposal.instructions if i.id == request.instruction)
            try:
                done = Decimal(request.quantity)
            except ArithmeticError:
                raise ValueError(f"quantity '{request.quantity}' is not a number") from None
            if not done.is_finite() or done < 0 or done > Decimal(instructed) or (done == 0 < Decimal(instructed)):
                raise ValueError(f"instruction {request.instruction} moves {instructed}; confirm more than 0 and at "
                                 f"most that, not {request.quantity}")

    @workflow.update
    async def cancel(self, request: Cancel) -> str:
        await workflow.wait_condition(lambda: self.opened)
        _refuse_unless(self._validate_cancel, request)
        before = self.state
        self.state = CANCELLED
        if self.proposal is not None and before == AWAITING_APPROVAL:
            await self._release(self.proposal.no, f"case cancelled by {request.actor}")
        await self._record("case.cancelled", request.actor, before=before, after=CANCELLED, reason=request.reason,
                           notify=("cancelled", self.assignees))
        return self.state

    @cancel.validator
    def _validate_cancel(self, request: Cancel) -> None:
        if self.state not in (OPEN, ACKNOWLEDGED, AWAITING_APPROVAL):
            raise ValueError(f"the case is {self.state}; only a case with no instruction out can be cancelled")
        if request.actor not in self.input.committee:
            raise ValueError(f"only a committee member may cancel a case, not {request.actor}")
        if not request.reason.strip():
            raise ValueError("a cancellation needs a reason")

    def _require_open_to(self, actor: str) -> None:
        if self.state not in (OPEN, ACKNOWLEDGED):
            raise ValueError(f"the case is {self.state}")
        self._require_responsible(actor)

    def _require_responsible(self, actor: str) -> None:
        if actor not in self.assignees:
            raise ValueError(f"{actor} is not responsible for this case (responsible: {', '.join(self.assignees)})")

    @workflow.query
    def view(self) -> CaseView:
        return CaseView(self.input.case_id, self.state, self.input.owner, list(self.assignees), self.level,
                        self.due["acknowledge"].isoformat(), self.due["resolve"].isoformat(), len(self.lines),
                        list(self.timeline), self.proposal, list(self.input.dispositions))

    # --- the case ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> str:
        if case.carried is None:
            await workflow.wait_condition(lambda: self.got_lines)
            await self._record("case.opened", "stockwarden", after=OPEN, notify=("case_assigned", self.assignees))
            if case.merged:
                await self._take_over(case.merged)
            self.opened = True
        while self.state not in FINAL:
            if self.pending is not None:  # before continuing as new: the refresh is not carried over
                await self._weigh(self.pending)
                continue
            await self._continue_as_new_if_long()
            if self.state == APPROVED:
                await self._execute()
            elif self.state in WAITING_FOR_PEOPLE:
                await self._under_sla()
            else:  # an Update handler is between two steps; it moves the state on
                await workflow.wait_condition(lambda state=self.state: self.state != state)  # type: ignore[misc]
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    async def _take_over(self, merged: list[MergedCase]) -> None:
        """The upgrade from cases per rule (governance/upgrade.py): this position's per-rule cases are ended
        once this case has started, their lots already its lines. Their timelines are kept, each entry under
        the old case's id, in one "case.merged" step. A plan one of them waited on is carried over where it
        still validates on these lines and its stock can be held: as this case's plan, its signatures kept,
        awaiting those it still needs. Any other is returned to its proposer and the owner with the reason.
        Runs before the case counts as opened, so no person's action overtakes it."""
        for old in merged:
            self.timeline.extend(f"{old.case_id}: {entry}" for entry in old.timeline)
        await self._record("case.merged", "stockwarden", after=[old.case_id for old in merged],
                           reason="one case per stock position; took over " + ", ".join(
                               f"{old.case_id} ({old.rule}, {len(old.signatures)} signature(s))" for old in merged))
        for old in merged:  # instructions already at the ERP first: they are carried out whatever else waits
            if old.instructed is not None:
                await self._take_over_instructions(old.case_id, old.instructed)
        for old in (old for old in merged if old.pending is not None):
            pending = old.pending
            assert pending is not None
            request = Propose(pending.by, pending.disposition, list(pending.lines), pending.target,
                              pending.postpone_to, pending.reason)
            plan = [replace(line, line_no=n) for n, line in enumerate(plan_lines(request), start=1)]
            plan_no = self.proposals + 1  # numbered as a Propose numbers them: holds and trims name the lines
            problems = (["this case already carries another merged case's plan"] if self.proposal is not None
                        else proposal_problems(self.input, self.lines, request, workflow.now().date()))
            if not problems:
                problems = await workflow.execute_activity_method(
                    CaseActivities.hold_stock,
                    HoldRequest(self.input.case_id, plan_no, self.input.sku, self.input.site, plan,
                                f"carried over from {old.case_id}", workflow.now().isoformat()),
                    start_to_close_timeout=timedelta(seconds=30))
            if problems:
                await self._record("case.plan_returned", "stockwarden", after=old.case_id,
                                   reason=f"the plan of {old.case_id} ({pending.disposition}) is not carried over: "
                                   + "; ".join(problems),
                                   notify=("plan_trimmed", list(dict.fromkeys([pending.by, *self.assignees]))))
                continue
            values = values_by_disposition(self.lines, plan)
            requires = required_signatures(self.input, values)
            for signature in old.signatures:
                if signature.meaning == APPROVED_MEANING and signature.role in requires:
                    requires.remove(signature.role)
            self.proposals = plan_no
            self.proposal = Proposal(
                no=plan_no, disposition=plan_name(plan), by=pending.by, at=pending.at, lines=plan,
                target=pending.target, postpone_to=pending.postpone_to, reason=pending.reason,
                value=str(sum(values.values(), Decimal(0)).quantize(Decimal("0.01"))), requires=requires,
                signatures=list(old.signatures))
            self.state = AWAITING_APPROVAL if requires else APPROVED
            await self._record("case.approval_requested" if requires else "case.approved", "stockwarden",
                               before=OPEN, after=list(requires), reason=f"the plan of {old.case_id} carried over",
                               notify=("approval_requested", self._approvers()) if requires else None)

    async def _take_over_instructions(self, old_case_id: str, instructed: Proposal) -> None:
        """The old case's plan was at the ERP (instructions out, not all confirmed): its unconfirmed
        instructions await their confirmation here (governance/upgrade.py moves their outbox rows to this
        case), as lines of this case's plan, so that nothing is instructed twice and a confirmation or a
        snapshot's evidence still ends them. Several old plans at the ERP become one plan."""
        out = [i for i in instructed.instructions if not i.confirmed_by]
        if not out:
            return
        if self.proposal is None:
            self.proposals += 1
            self.proposal = Proposal(no=self.proposals, disposition="", by=instructed.by, at=instructed.at, lines=[],
                                     target=instructed.target, postpone_to=instructed.postpone_to,
                                     reason=instructed.reason, value="0", requires=[])
        proposal = self.proposal
        start = len(proposal.lines)
        proposal.lines += [ProposalLine(i.lot, i.serial, i.quantity, i.disposition or instructed.disposition,
                                        i.target or instructed.target, instructed.postpone_to, line_no=start + n)
                           for n, i in enumerate(out, start=1)]
        proposal.instructions += out
        proposal.signatures += [s for s in instructed.signatures if s not in proposal.signatures]
        proposal.disposition = plan_name(proposal.lines)
        proposal.value = str(sum(values_by_disposition(self.lines, proposal.lines).values(), Decimal(0))
                             .quantize(Decimal("0.01")))
        before, self.state = self.state, AWAITING_CONFIRMATION
        await self._record("case.instructions_taken_over", "stockwarden", before=before,
                           after=[i.id for i in out],
                           reason=f"the instructions of {old_case_id} ({instructed.disposition}) await their "
                                  "confirmation under this case")

    def _phase(self) -> str:
        return "acknowledge" if self.state == OPEN else "resolve"

    async def _under_sla(self) -> None:
        """Wait for one thing: the case moves on, its lines change or clear, or a reminder or escalation is due."""
        state, phase = self.state, self._phase()
        if not self.lines and state != AWAITING_CONFIRMATION:  # instructions out wait for their confirmation
            await self._cleared()
            return
        window = self.input.acknowledge_seconds if phase == "acknowledge" else self.input.resolve_seconds
        reminded = self.reminded == phase
        due = self.due[phase]
        until = due if reminded else due - timedelta(seconds=window * (1 - REMIND_AT))
        if until > workflow.now():
            self.deadline_moved = False
            try:
                await workflow.wait_condition(
                    lambda: self.state != state or (not self.lines and state != AWAITING_CONFIRMATION)
                    or self.deadline_moved or self._long() or self.pending is not None,
                    timeout=until - workflow.now())
                return
            except TimeoutError:
                pass
        if not reminded:
            self.reminded = phase
            await self._record("case.reminded", "stockwarden", reason=f"{phase} deadline {due.isoformat()}",
                               notify=("reminder", self._recipients()))
            return
        await self._escalate(phase, window)
        self.reminded = ""

    async def _cleared(self) -> None:
        """The latest scan finds none of the case's stock, and no instruction awaits confirmation: the case
        resolved by itself (a plan not yet instructed lets go of its holds)."""
        before = self.state
        if self.proposal is not None and before in PLANNED:
            await self._release(self.proposal.no, "the stock is gone")
        self.state = RESOLVED_BY_ITSELF
        await self._record("case.resolved_by_itself", "stockwarden", before=before,
                           notify=("resolved_by_itself", self.assignees))

    async def _weigh(self, update: Lines) -> None:
        """What a scan's refresh means for the case: a more severe finding tightens its severity and
        deadlines; stock gone from under a plan trims it; a snapshot showing an instruction carried out
        confirms it."""
        self.pending = None
        await workflow.wait_condition(lambda: self.acting == 0)  # a plan is never cut from under a handler
        tightened, before = [], {"severity": self.input.severity, "rule": self.input.rule}
        changes: list[Change] = []
        if update.severity and severity_rank(update.severity) < severity_rank(self.input.severity):
            self.input = replace(self.input, severity=update.severity, rule=update.rule, title_en=update.title_en,
                                 title_zh=update.title_zh)
            tightened.append(f"severity {before['severity']} -> {update.severity} ({update.rule})")
            changes.append(Change("severity", before=before["severity"], after=update.severity, why=update.rule))
        for phase, seconds in (("acknowledge", update.acknowledge_seconds), ("resolve", update.resolve_seconds)):
            due = self.opened_at + timedelta(seconds=seconds)
            if seconds and due < self.due[phase]:  # a new finding's rule may give an earlier deadline
                tightened.append(f"{phase} by {due.isoformat()} (was {self.due[phase].isoformat()})")
                changes.append(Change(f"{phase}_due", before=self.due[phase].isoformat(), after=due.isoformat()))
                self.due[phase] = due
                self.deadline_moved = True
        self.input = replace(self.input,
                             acknowledge_seconds=min(self.input.acknowledge_seconds, update.acknowledge_seconds or 1e18),
                             resolve_seconds=min(self.input.resolve_seconds, update.resolve_seconds or 1e18))
        if tightened:
            await self._record("case.tightened", "stockwarden", before=before,
                               after={"severity": self.input.severity, "rule": self.input.rule},
                               reason="; ".join(tightened), notify=("tightened", self._recipients()),
                               changes=changes)
        elif self.lines and self._lines_key() != self.recorded_lines:  # the mirror follows the stock (none left:
            # the case clears, and that step records it)
            await self._record("case.refreshed", "stockwarden", after={"lines": len(self.lines)},
                               reason="the latest scan shows other stock")
        if update.dispositions:
            self.input = replace(self.input, dispositions=list(update.dispositions))
        if self.proposal is not None and self.state in PLANNED:
            stock = {(line.lot, line.serial): line.quantity for line in self.lines if not line.po}
            orders = {line.po: line.quantity for line in self.lines if line.po}  # a PO line the scan no longer
            # shows may still be open (its rule stopped firing): what the order holds is read before it goes out
            await self._trim([orders.get(line.target, line.quantity) if line.disposition == PO_LINE
                              else stock.get((line.lot, line.serial), "0") for line in self.proposal.lines],
                             "the latest snapshot holds less")
        if self.state == AWAITING_CONFIRMATION and update.evidenced:
            await self._confirm_evidenced(update.evidenced)

    async def _trim(self, available: list[str], why: str) -> None:
        """Cut each plan line to what its stock holds now (`available`, in plan order); a line with nothing
        left goes. The proposer is told; a plan with no line left is void and the case goes back to its owner."""
        proposal = self.proposal
        assert proposal is not None
        checked = workflow.patched(TRIM_CHECKS)
        today = workflow.now().date()
        lots = {(line.lot, line.serial): line for line in self.lines if not line.po}
        kept, trimmed, gone, shrunk, changes = [], [], [], [], []
        for place, (line, have) in enumerate(zip(proposal.lines, available, strict=True), start=1):
            quantity, left = Decimal(line.quantity), max(Decimal(have), Decimal(0))
            po = line.target if line.disposition == PO_LINE else ""
            barred = self._barred(line, lots, today) if checked else ""
            if barred:  # the lot became unusable since the plan was made: it is never put to use
                gone.append(line.line_no or place)
                trimmed.append(f"{line.name} is {barred} now: it may be returned or scrapped, never {line.disposition}")
                changes.append(Change("dropped", line.lot, line.serial, po, line.quantity, "0", barred))
            elif checked and line.disposition == PO_LINE and left <= 0:  # received or closed meanwhile
                gone.append(line.line_no or place)
                trimmed.append(f"{line.name}: nothing is open on it any more")
                changes.append(Change("dropped", line.lot, line.serial, po, line.quantity, "0", "closed"))
            elif (line.disposition == PO_LINE and not checked) or left >= quantity:
                kept.append(line)
            elif left > 0:
                kept.append(replace(line, quantity=str(left)))
                shrunk.append(replace(line, quantity=str(left), line_no=line.line_no or place))
                trimmed.append(f"{line.name}: {line.quantity} -> {left}")
                changes.append(Change("cut", line.lot, line.serial, po, line.quantity, str(left)))
            else:
                gone.append(line.line_no or place)
                trimmed.append(f"{line.name}: {line.quantity} -> 0")
                changes.append(Change("dropped", line.lot, line.serial, po, line.quantity, "0"))
        if not trimmed:
            return
        if gone:
            await self._release(proposal.no, why, gone)
        if shrunk and checked:  # the units a trimmed line gave up are free for other plans at once
            await workflow.execute_activity_method(
                CaseActivities.trim_stock,
                HoldRequest(self.input.case_id, proposal.no, self.input.sku, self.input.site, shrunk, why,
                            workflow.now().isoformat()),
                start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=0))
        before = self.state
        if not kept:
            self.state = ACKNOWLEDGED
            self.proposal = None
            await self._record("case.plan_void", "stockwarden", before=before, after=ACKNOWLEDGED,
                               reason=f"{why}: " + "; ".join(trimmed),
                               notify=("plan_trimmed", list(dict.fromkeys([proposal.by, *self.assignees]))),
                               changes=changes)
            return
        proposal.lines = kept
        values = values_by_disposition(self.lines, kept)
        proposal.value = str(sum(values.values(), Decimal(0)).quantize(Decimal("0.01")))
        await self._record("case.plan_trimmed", "stockwarden", after=[line.quantity for line in kept],
                           reason=f"{why}: " + "; ".join(trimmed),
                           notify=("plan_trimmed", list(dict.fromkeys([proposal.by, *self.assignees]))),
                           changes=changes)

    @staticmethod
    def _barred(line: ProposalLine, lots: dict[tuple[str, str], CaseLine], today: date) -> str:
        """Why the plan line may no longer be carried out as planned: its lot's QC status or "expired" when
        the lot is unusable now and the line would put it to use; else ""."""
        held = lots.get((line.lot, line.serial))
        if held is None or line.disposition not in NEVER_FOR_UNUSABLE:
            return ""
        return unusable(held, today)

    async def _release(self, plan_no: int, reason: str, line_nos: list[int] | None = None) -> None:
        await workflow.execute_activity_method(
            CaseActivities.release_stock,
            HoldRequest(self.input.case_id, plan_no, self.input.sku, self.input.site, [], reason,
                        workflow.now().isoformat(), list(line_nos or [])),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=0))

    async def _confirm_evidenced(self, evidenced: list[Evidenced]) -> None:
        """Instructions a later snapshot shows carried out (that disposition, that lot); any other drop in
        stock confirms nothing."""
        assert self.proposal is not None
        pending = {i.id for i in self.proposal.instructions if not i.confirmed_by}
        for seen in evidenced:
            if seen.instruction in pending:
                await self._confirm([seen.instruction], SNAPSHOT, seen.how, [seen.done])

    async def _confirm(self, ids: list[int], actor: str, note: str, done: list[str] | None = None) -> None:
        proposal = self.proposal
        assert proposal is not None
        at = workflow.now().isoformat()
        asked = dict(zip(ids, done or [""] * len(ids), strict=True))
        claimed = [i for i in proposal.instructions if i.id in asked and not i.confirmed_by]
        if not claimed:  # another confirmation of the same instruction got here first
            return
        for instruction in claimed:  # claimed before the await: a second confirmation meanwhile finds it taken
            instruction.confirmed_by, instruction.confirmed_at = actor, at
            instruction.done = asked[instruction.id] or instruction.quantity
            instruction.how = note
        ids = [i.id for i in claimed]
        await workflow.execute_activity_method(
            CaseActivities.confirm_instructions,
            Confirmation(self.input.case_id, ids, actor, note, self.input.policy_version, at,
                         [asked[i] for i in ids], proposal.no),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=0))
        await self._record("case.instruction_confirmed", actor, after=ids, reason=note)
        if self.proposal is not proposal:
            return
        if (self.state == AWAITING_CONFIRMATION and all(i.confirmed_by for i in self.proposal.instructions)
                and self.finished_plan != proposal.no):  # two confirmations at once: the plan is done once
            self.finished_plan = proposal.no
            await self._plan_done(actor)

    async def _plan_done(self, actor: str) -> None:
        """Every instruction of the plan is confirmed: the case resolves when nothing of its lines is left;
        otherwise what is left (lines the plan did not take, quantities it did not move) goes back to the owner."""
        assert self.proposal is not None
        await self._release(self.proposal.no, "the plan is carried out")  # what a partial confirmation left held
        moved: dict[tuple[str, str, str], Decimal] = {}
        expected: dict[tuple[str, str, str], Decimal] = {}
        for line, instruction in zip(self.proposal.lines, self.proposal.instructions, strict=True):
            key = ("", "", line.target) if line.disposition == PO_LINE else (line.lot, line.serial, "")
            moved[key] = Decimal(instruction.done or instruction.quantity)
            if instruction.stock_before:
                expected[key] = Decimal(instruction.stock_before) - moved[key]
        left = []
        for held in self.lines:  # a later scan may already show the move; the line then holds no more than expected
            rest = (min(Decimal(held.quantity), expected[held.key]) if held.key in expected
                    else Decimal(held.quantity) - moved.get(held.key, Decimal(0)))
            if rest > 0:
                share = rest / Decimal(held.quantity)
                left.append(replace(held, quantity=str(rest),
                                    value=str((Decimal(held.value) * share).quantize(Decimal("0.0001")))))
        if not left:
            self.state = RESOLVED
            await self._record("case.resolved", actor, before=AWAITING_CONFIRMATION, after=RESOLVED,
                               notify=("resolved", self.assignees))
            return
        self.lines = left
        self.state = ACKNOWLEDGED
        self.proposal = None
        await self._record("case.plan_done", actor, before=AWAITING_CONFIRMATION, after=ACKNOWLEDGED,
                           reason="still governed: " + "; ".join(f"{held.name} {held.quantity}" for held in left),
                           notify=("plan_done", self.assignees),
                           changes=[Change("left", held.lot, held.serial, held.po, after=held.quantity) for held in left])

    async def _execute(self) -> None:
        """Turn the approved plan into ERP instructions, one per line, after reading its stock once more (a
        movement may have taken it since the plan was held: nothing goes out for stock that is gone); the
        outbox keys them so a retry adds none."""
        proposal = self.proposal
        assert proposal is not None
        available = await workflow.execute_activity_method(
            CaseActivities.stock_now, StockCheck(self.input.sku, self.input.site, list(proposal.lines),
                                                 self.input.case_id),
            start_to_close_timeout=timedelta(seconds=30))
        await self._trim(available, "the stock was read again before the instructions went out")
        if self.state != APPROVED or self.proposal is None:
            return
        self.state = EXECUTING
        await self._record("case.executing", "stockwarden", before=APPROVED, after=proposal.disposition)
        stock = {line.key: line for line in self.lines}
        lines = [InstructionLine(p.lot, p.serial, p.quantity, str(line_value(self.lines, p)), p.disposition, p.target,
                                 p.postpone_to, p.line_no) for p in proposal.lines]
        ids = await workflow.execute_activity_method(
            CaseActivities.issue_instructions,
            InstructionRequest(
                case_id=self.input.case_id, proposal_no=proposal.no, disposition=proposal.disposition,
                sku=self.input.sku, site=self.input.site, supplier=self.input.supplier, target=proposal.target,
                postpone_to=proposal.postpone_to, lines=lines,
                approved_by=[s.signer for s in proposal.signatures if s.meaning == APPROVED_MEANING],
                policy_version=self.input.policy_version, at=workflow.now().isoformat()),
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=0))

        def before(p: ProposalLine) -> str:
            line = stock.get(("", "", p.target) if p.disposition == PO_LINE else (p.lot, p.serial, ""))
            return line.quantity if line is not None else ""

        proposal.instructions = [
            Instruction(id=instruction_id, lot=p.lot, serial=p.serial, quantity=p.quantity, stock_before=before(p),
                        disposition=p.disposition, target=p.target)
            for instruction_id, p in zip(ids, proposal.lines, strict=True)]
        self.state = AWAITING_CONFIRMATION
        await self._record("case.instructions_issued", "stockwarden", before=EXECUTING, after=ids,
                           notify=("instruction_sent", self.assignees))

    def _lines_key(self) -> tuple[tuple[tuple[str, str, str], str], ...]:
        return tuple((line.key, line.quantity) for line in self.lines)

    def _long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.input.history_limit

    async def _continue_as_new_if_long(self) -> None:
        if not self._long():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.pending is not None:  # a refresh landed meanwhile: weigh it first, it is not carried over
            return
        workflow.continue_as_new(replace(self.input, carried=CaseState(
            state=self.state, lines=list(self.lines), assignees=list(self.assignees), level=self.level,
            events=self.events, acknowledge_due=self.due["acknowledge"].isoformat(),
            resolve_due=self.due["resolve"].isoformat(), snoozed_seconds=self.snoozed_seconds,
            reminded=self.reminded, timeline=self.timeline[-50:], proposals=self.proposals,
            proposal=self.proposal, snapshot_id=self.snapshot_id, opened_at=self.opened_at.isoformat())))

    def _restore(self, carried: CaseState) -> None:
        self.state, self.lines, self.got_lines = carried.state, list(carried.lines), True
        self.assignees, self.level, self.events = list(carried.assignees), carried.level, carried.events
        self.due = {"acknowledge": datetime.fromisoformat(carried.acknowledge_due),
                    "resolve": datetime.fromisoformat(carried.resolve_due)}
        self.snoozed_seconds, self.reminded, self.timeline = carried.snoozed_seconds, carried.reminded, list(carried.timeline)
        self.proposals, self.proposal = carried.proposals, carried.proposal
        self.snapshot_id = carried.snapshot_id or self.snapshot_id
        self.recorded_lines = self._lines_key()
        if carried.opened_at:
            self.opened_at = datetime.fromisoformat(carried.opened_at)

    async def _escalate(self, deadline: str, window: float) -> None:
        chain = self.input.escalation
        before = list(self.assignees)
        if self.level < len(chain):
            step = chain[self.level]
            self.level += 1
            added = self.input.committee if step == COMMITTEE else [step]
            self.assignees = before + [a for a in added if a not in before]
        self.due[deadline] = workflow.now() + timedelta(seconds=window)
        await self._record("case.escalated", "stockwarden", before=before, after=list(self.assignees),
                           reason=f"{deadline} deadline passed", notify=("escalated", self._recipients()))

    def _approvers(self) -> list[str]:
        """Who may still give a needed signature; never the proposer."""
        if self.proposal is None:
            return []
        people = [p for role in self.proposal.requires for p in signers_for(self.input, role)]
        return [p for p in dict.fromkeys(people) if p != self.proposal.by]

    def _recipients(self) -> list[str]:
        """Whom a reminder or escalation concerns: the people responsible and, awaiting approval, the approvers."""
        extra = self._approvers() if self.state == AWAITING_APPROVAL else []
        return list(dict.fromkeys(self.assignees + extra))

    # --- activities -------------------------------------------------------------------------

    async def _record(self, action: str, actor: str, *, before: object = None, after: object = None,
                      reason: str = "", notify: tuple[str, list[str]] | None = None,
                      changes: list[Change] | None = None) -> None:
        """Record one step (mirror, audit) and queue its messages, in one local activity and transaction."""
        async with self.recording:
            self.events += 1
            self.recorded_lines = self._lines_key()
            self.timeline.append(f"{workflow.now().isoformat()} {action} by {actor}" + (f": {reason}" if reason else ""))
            event = CaseEvent(
                case_id=self.input.case_id, event_no=self.events, action=action, actor=actor, state=self.state,
                before=before, after=after, reason=reason, rule=self.input.rule, sku=self.input.sku,
                site=self.input.site, severity=self.input.severity, owner=self.input.owner,
                assignees=list(self.assignees), escalation_level=self.level,
                acknowledge_due=self.due["acknowledge"].isoformat(), resolve_due=self.due["resolve"].isoformat(),
                lines=list(self.lines), policy_version=self.input.policy_version, at=workflow.now().isoformat(),
                proposal=deepcopy(self.proposal), notify=Notify(notify[0], list(notify[1])) if notify else None,
                title_en=self.input.title_en, title_zh=self.input.title_zh, position=self.input.position,
                generation=self.input.generation, snapshot_id=self.snapshot_id, changes=list(changes or []))
            await workflow.execute_local_activity_method(CaseActivities.record, event,
                                                         start_to_close_timeout=timedelta(seconds=30),
                                                         retry_policy=RetryPolicy(maximum_attempts=0))
        if notify and notify[0] in URGENT_EVENTS:
            await self._wake_dispatcher()

    async def _wake_dispatcher(self) -> None:
        """Urgent messages (escalations, approval requests) should not wait for the dispatcher's next
        round; if no dispatcher runs (a test, a worker without one) the message still waits in the queue."""
        try:
            await workflow.get_external_workflow_handle(DISPATCHER_ID).signal("wake")
        except Exception:  # noqa: BLE001 - the dispatcher's absence must never fail a case
            workflow.logger.info("no notification dispatcher to wake; the message waits in the queue")
