"""CaseWorkflow: one governance case per (rule, SKU, site), from finding to resolution.

This first part covers the case's life up to acknowledgement and beyond: the owner is assigned and
notified, reminded before the acknowledge deadline and, when it lapses, the case escalates along the
owner's chain (a manager, then the committee), each step notified and recorded. Scans refresh the
case's lines; when the last line clears the case resolves by itself. Owners act through Updates whose
validators refuse a wrong actor or a wrong state before anything enters history.
Deterministic: time from workflow.now(), deadlines as timers, all I/O in activities.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.cases import CaseActivities, CaseEvent, CaseLine

COMMITTEE = "committee"  # the policy's word (rules.vocabulary) for "every committee member"
REMIND_AT = 0.75
"""Share of the acknowledge window after which the assignee is reminded."""

OPEN, ACKNOWLEDGED, RESOLVED_BY_ITSELF, CANCELLED = "open", "acknowledged", "resolved_by_itself", "cancelled"
FINAL = {RESOLVED_BY_ITSELF, CANCELLED, "resolved"}


def _looks_like_address(text: str) -> bool:
    """A plain check that runs inside the workflow sandbox; addresses in policies are checked fully."""
    name, at, domain = text.partition("@")
    return bool(name and at and "." in domain and " " not in text)


@dataclass
class CaseInput:
    case_id: str
    rule: str
    sku: str
    site: str
    severity: str
    title_en: str
    title_zh: str
    policy_version: str
    owner: str
    escalation: list[str]
    committee: list[str]
    acknowledge_seconds: float
    resolve_seconds: float
    dispositions: list[str]
    snooze_max_seconds: float = 0.0
    history_limit: int = 5_000
    """History events after which the case continues as new, so a case open for years stays light."""
    carried: CaseState | None = None


@dataclass
class CaseState:
    """What a case carries into its next run when it continues as new."""

    state: str
    lines: list[CaseLine]
    assignees: list[str]
    level: int
    events: int
    acknowledge_due: str
    resolve_due: str
    snoozed_seconds: float
    reminded: bool
    timeline: list[str]


@dataclass
class Lines:
    """What a scan found for this case now; no lines means the finding cleared."""

    lines: list[CaseLine] = field(default_factory=list)


@dataclass
class Acknowledge:
    actor: str


@dataclass
class Comment:
    actor: str
    text: str


@dataclass
class Reassign:
    actor: str
    to: str
    reason: str


@dataclass
class Snooze:
    actor: str
    days: float
    reason: str


@dataclass
class CaseView:
    case_id: str
    state: str
    owner: str
    assignees: list[str]
    escalation_level: int
    acknowledge_due: str
    resolve_due: str
    lines: int
    timeline: list[str]


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        """Set up from the input before any message is handled: an Update may arrive with the start."""
        self.input = case
        self.state = OPEN
        self.lines: list[CaseLine] = []
        self.got_lines = False
        self.assignees = [case.owner]
        self.level = 0
        self.timeline: list[str] = []
        self.events = 0
        opened = workflow.now()
        self.due = {"acknowledge": opened + timedelta(seconds=case.acknowledge_seconds),
                    "resolve": opened + timedelta(seconds=case.resolve_seconds)}
        self.deadline_moved = False
        self.snoozed_seconds = 0.0
        self.reminded = False
        self.opened = case.carried is not None
        self.recording = asyncio.Lock()
        """Case events reach the mirror and the audit trail one at a time, in order."""
        if case.carried is not None:
            self._restore(case.carried)

    # --- messages ---------------------------------------------------------------------------

    @workflow.signal
    def refresh(self, update: Lines) -> None:
        self.lines = list(update.lines)
        self.got_lines = True

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
        if request.actor not in self._responsible():
            raise ValueError(f"{request.actor} is not responsible for this case "
                             f"(responsible: {', '.join(self._responsible())})")

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
                           reason=request.reason)
        await self._notify("case_assigned", [request.to])
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
        phase = "acknowledge" if self.state == OPEN else "resolve"
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

    def _require_open_to(self, actor: str) -> None:
        if self.state not in (OPEN, ACKNOWLEDGED):
            raise ValueError(f"the case is {self.state}")
        if actor not in self._responsible():
            raise ValueError(f"{actor} is not responsible for this case (responsible: {', '.join(self._responsible())})")

    @workflow.query
    def view(self) -> CaseView:
        return CaseView(self.input.case_id, self.state, self.input.owner, list(self.assignees), self.level,
                        self.due["acknowledge"].isoformat(), self.due["resolve"].isoformat(), len(self.lines),
                        list(self.timeline))

    # --- the case ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> str:
        if case.carried is None:
            await workflow.wait_condition(lambda: self.got_lines)
            await self._record("case.opened", "stockwarden", after=OPEN)
            self.opened = True
            await self._notify("case_assigned", self.assignees)

        if self.state == OPEN:
            await self._under_sla(OPEN, "acknowledge", case.acknowledge_seconds)
        if self.state == ACKNOWLEDGED:
            await self._under_sla(ACKNOWLEDGED, "resolve", case.resolve_seconds)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    async def _under_sla(self, state: str, deadline: str, window: float) -> None:
        """Wait while the case stays in `state`; remind once, then escalate each time the deadline passes."""
        while self.state == state:
            await self._continue_as_new_if_long()
            if not self.lines:
                self.state = RESOLVED_BY_ITSELF
                await self._record("case.resolved_by_itself", "stockwarden", before=state)
                await self._notify("resolved_by_itself", self.assignees)
                return
            due = self.due[deadline]
            until = due if self.reminded else due - timedelta(seconds=window * (1 - REMIND_AT))
            if until > workflow.now():
                self.deadline_moved = False
                try:
                    await workflow.wait_condition(
                        lambda: self.state != state or not self.lines or self.deadline_moved or self._long(),
                        timeout=until - workflow.now())
                    continue
                except TimeoutError:
                    pass
            if not self.reminded:
                self.reminded = True
                await self._notify("reminder", self.assignees)
                continue
            await self._escalate(deadline, window)
            self.reminded = False
        self.reminded = False

    def _long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.input.history_limit

    async def _continue_as_new_if_long(self) -> None:
        if not self._long():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(replace(self.input, carried=CaseState(
            state=self.state, lines=list(self.lines), assignees=list(self.assignees), level=self.level,
            events=self.events, acknowledge_due=self.due["acknowledge"].isoformat(),
            resolve_due=self.due["resolve"].isoformat(), snoozed_seconds=self.snoozed_seconds,
            reminded=self.reminded, timeline=self.timeline[-50:])))

    def _restore(self, carried: CaseState) -> None:
        self.state, self.lines, self.got_lines = carried.state, list(carried.lines), True
        self.assignees, self.level, self.events = list(carried.assignees), carried.level, carried.events
        self.due = {"acknowledge": datetime.fromisoformat(carried.acknowledge_due),
                    "resolve": datetime.fromisoformat(carried.resolve_due)}
        self.snoozed_seconds, self.reminded, self.timeline = carried.snoozed_seconds, carried.reminded, list(carried.timeline)

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
                           reason=f"{deadline} deadline passed")
        await self._notify("escalated", self.assignees)

    def _responsible(self) -> list[str]:
        return list(self.assignees)

    # --- activities -------------------------------------------------------------------------

    async def _record(self, action: str, actor: str, *, before: object = None, after: object = None,
                      reason: str = "") -> None:
        async with self.recording:
            self.events += 1
            self.timeline.append(f"{workflow.now().isoformat()} {action} by {actor}" + (f": {reason}" if reason else ""))
            event = CaseEvent(
                case_id=self.input.case_id, event_no=self.events, action=action, actor=actor, state=self.state,
                before=before, after=after, reason=reason, rule=self.input.rule, sku=self.input.sku,
                site=self.input.site, severity=self.input.severity, owner=self.input.owner,
                assignees=list(self.assignees), escalation_level=self.level,
                acknowledge_due=self.due["acknowledge"].isoformat(), resolve_due=self.due["resolve"].isoformat(),
                lines=list(self.lines), policy_version=self.input.policy_version, at=workflow.now().isoformat())
            await workflow.execute_activity_method(CaseActivities.record, event,
                                                   start_to_close_timeout=timedelta(seconds=30),
                                                   retry_policy=RetryPolicy(maximum_attempts=0))

    async def _notify(self, template: str, recipients: list[str]) -> None:
        await workflow.execute_activity_method(CaseActivities.notify, args=[self.input.case_id, template, recipients],
                                               start_to_close_timeout=timedelta(seconds=60))
