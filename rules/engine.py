"""Evaluating facts against a compiled policy with durable-rules, in bounded chunks, into findings.

durable-rules keeps every asserted fact in memory (about 8 KB each) and never gives it back, so facts
go in a chunk at a time and are retracted before the next chunk: memory stays flat however large the
snapshot. Actions only record (rule, fact id), in an action of our own (_Record), so nothing that can
fail runs inside the engine.
"""

from __future__ import annotations

import copy
import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Any, get_args, get_type_hints

from durable.engine import Host, MessageNotHandledException, Promise

from inventory.facts_output import jsonable
from inventory.metrics import LotFact, SkuSiteFact, SkuSiteFacts
from rules.compiler import CompiledPolicy, compile_policy, policy_hash
from rules.policy import Policy, Rule
from rules.vocabulary import Level

CHUNK_FACTS = 2_000
_LOT_FIELDS = [f.name for f in fields(LotFact)]


@dataclass(frozen=True)
class Finding:
    """One rule fired on one subject (a lot, or a SKU at a site), with the numbers that made it fire."""

    rule: str
    level: str
    sku: str
    site: str
    lot: str
    serial: str
    severity: str
    value: Decimal
    """The stock value the finding covers: the lot's value, or the SKU-site's on-hand value."""
    metrics: dict[str, Any]
    reasons: list[dict[str, Any]]
    title: dict[str, str]

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.rule, self.sku, self.site, self.lot, self.serial)


class Subject:
    """A lot (with its SKU-site's facts behind it) or a SKU-site, read by fact name."""

    __slots__ = ("lot", "sku_site")

    def __init__(self, sku_site: SkuSiteFact, lot: LotFact | None = None):
        self.sku_site = sku_site
        self.lot = lot

    def get(self, name: str) -> Any:
        if self.lot is not None and name in _LOT_FIELD_SET:
            return getattr(self.lot, name)
        return getattr(self.sku_site, name, None)


_LOT_FIELD_SET = frozenset(_LOT_FIELDS)


def referenced_fields(policy: Policy) -> list[str]:
    """Only what some rule compares travels to the engine: smaller facts, less JSON, less engine memory."""
    names: set[str] = set()
    for rule in policy.rules:
        names.update(rule.scope.items())
        names.update(rule.when)
        for group in rule.any:
            names.update(group)
    return sorted(names)


def _engine_form(kind: Any) -> Callable[[Any], Any] | None:
    """How a field of this type reaches the engine: money as a float, a date as its day number."""
    kinds = set(get_args(kind)) or {kind}
    if Decimal in kinds:
        return float
    if date in kinds:
        return date.toordinal
    return None


class _Projection:
    """Some fields of one kind of fact (LotFact or SkuSiteFact), read at once and converted by their
    declared type, worked out once per policy rather than asked of every value of every fact."""

    def __init__(self, kind: type, names: Iterable[str]):
        hints = get_type_hints(kind)
        self.names = tuple(n for n in names if n in hints)
        self.forms = tuple(_engine_form(hints[n]) for n in self.names)
        read = attrgetter(*self.names) if self.names else (lambda _source: ())
        self.read: Callable[[Any], tuple[Any, ...]] = (lambda source: (read(source),)) if len(self.names) == 1 else read

    def into(self, source: Any, fact: dict[str, Any]) -> dict[str, Any]:
        """Add the fields that have a value; an absent field is what `is_null` and `$ex` test."""
        for name, form, value in zip(self.names, self.forms, self.read(source), strict=True):
            if value is not None:
                fact[name] = value if form is None else form(value)
        return fact


class FactProjections:
    """What of a SKU-site and of its lots the engine sees: only the fields some rule compares. A lot's
    fact is its SKU-site's fields (those a lot does not have itself) plus its own."""

    def __init__(self, names: list[str]):
        self.shared = _Projection(SkuSiteFact, [n for n in names if n not in _LOT_FIELD_SET])
        self.sku_own = _Projection(SkuSiteFact, [n for n in names if n in _LOT_FIELD_SET])
        self.lot = _Projection(LotFact, names)


def engine_facts(group: SkuSiteFacts, projections: FactProjections) -> Iterator[tuple[str, dict[str, Any], Subject]]:
    """(id, fact for the engine, subject) for the SKU-site and each of its lots that holds stock: a lot at
    quantity 0 (sold, scrapped, the ERP keeps the row) is no finding's lot, so nothing stays open on it
    and a movement that empties a lot clears its findings."""
    sku_site = group.sku_site
    shared = projections.shared.into(sku_site, {})
    sku_fact = projections.sku_own.into(sku_site, dict(shared))
    sku_fact["level"] = Level.SKU.value
    yield f"sku|{sku_site.sku}|{sku_site.site}", sku_fact, Subject(sku_site)
    lot_projection = projections.lot
    for lot in group.lots:
        if lot.qty <= 0:
            continue
        fact = lot_projection.into(lot, dict(shared))
        fact["level"] = Level.LOT.value
        yield f"lot|{lot.sku}|{lot.site}|{lot.lot}|{lot.serial}", fact, Subject(sku_site, lot)


_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextmanager
def collected_per_chunk() -> Iterator[Callable[[], object]]:
    """Python's cyclic garbage collector off while facts are evaluated, and one young-generation pass
    per chunk instead (call what this yields after each chunk).

    The automatic collector, started every 700 allocations, walked the scan's own facts and findings
    again and again: a sixth of a scan (benchmarks/rules_scan.py). The evaluation itself leaves no
    cycles (see _Record), but other code on other threads may, so each chunk still ends with a young
    generation pass, which finds any cycle made meanwhile. The collector is process-wide: with scans
    on several threads, it comes back (if it was on) when the last one ends."""
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield lambda: gc.collect(0)
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()
        gc.collect(0)


class _RuleHost(Host):
    """One durable-rules host per process; rulesets are registered once under a content-derived name."""

    def __init__(self) -> None:
        super().__init__()
        self.fired: list[tuple[str, str]] = []
        self.registered: set[str] = set()
        self.chunks = 0
        self.lock = threading.Lock()

    def _run(self) -> None:
        """Start no threads. durable-rules' Host starts two here that poll every 0.2 s, for ever, for
        actions left to run later and for timers. Every action of ours runs inside assert_fact and no
        rule sets a timer, so all a poll could do is take the action of a fact being asserted, past
        the lock that keeps chunks apart, and record it on its own thread."""


class _Record(Promise):
    """The action of every compiled rule: note (durable rule, fact id) on the host, nothing else.

    durable-rules wraps an action named by string in its own Promise, whose `run` defines a `timeout`
    function that refers to itself on every call: a reference cycle that keeps the action's closure,
    state and message (24 objects per fired rule) until the cyclic collector finds them, a seventh of
    a scan at 200,000 lots (benchmarks/rules_scan.py). This action runs synchronously and cannot fail,
    so it needs no timer: once it has run, reference counting frees all of it."""

    def __init__(self, host: _RuleHost, durable_rule: str):
        super().__init__(self._record)
        self._host = host
        self._durable_rule = durable_rule

    def _record(self, closure: Any) -> None:
        self._host.fired.append((self._durable_rule, closure.m["id"]))

    def run(self, c: Any, complete: Callable[[Any], None]) -> None:
        self._record(c)
        complete(None)


_host: _RuleHost | None = None
_host_lock = threading.Lock()


def _get_host() -> _RuleHost:
    global _host
    with _host_lock:
        if _host is None:
            _host = _RuleHost()
        return _host


class Evaluator:
    """Evaluates facts against one policy; reusable for any number of snapshots."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.compiled: CompiledPolicy = compile_policy(policy)
        self.policy_hash = policy_hash(policy)
        self.fields = referenced_fields(policy)
        self.projections = FactProjections(self.fields)
        self._whys: dict[tuple[int, tuple[int, ...]], _Why] = {}
        self.host = _get_host()
        with self.host.lock:
            if self.compiled.name not in self.host.registered:
                ruleset = copy.deepcopy(self.compiled.ruleset)
                for durable_rule, definition in ruleset.items():
                    definition["run"] = _Record(self.host, durable_rule)
                self.host.set_rulesets({self.compiled.name: ruleset})
                self.host.registered.add(self.compiled.name)

    def fire(self, facts: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Assert a chunk of facts (each with a unique 'id'), then drop them all; return (durable rule, fact id).

        The chunk is one durable-rules session (sid): deleting its state gives back the facts' memory
        at once, much cheaper than retracting them one by one.
        """
        name = self.compiled.name
        with self.host.lock:
            self.host.fired = []
            self.host.chunks += 1
            sid = str(self.host.chunks)
            matched = False
            assert_fact = self.host.assert_fact
            for fact in facts:
                fact["sid"] = sid
                try:
                    assert_fact(name, fact)
                    matched = True
                except MessageNotHandledException:  # no rule matched this fact: not a finding
                    pass
            if matched:  # a session no fact matched has no state, and deleting it crashes the process (SIGSEGV)
                self.host.delete_state(name, sid)
            return self.host.fired

    def evaluate(self, groups: Iterable[SkuSiteFacts], chunk: int = CHUNK_FACTS) -> Iterator[Finding]:
        """Findings for every subject of `groups`, one per (rule, subject), streaming chunk by chunk."""
        batch: list[dict[str, Any]] = []
        subjects: dict[str, Subject] = {}
        with collected_per_chunk() as chunk_done:
            for group in groups:
                for fact_id, fact, subject in engine_facts(group, self.projections):
                    fact["id"] = fact_id
                    batch.append(fact)
                    subjects[fact_id] = subject
                if len(batch) >= chunk:
                    yield from self._findings(batch, subjects)
                    batch, subjects = [], {}
                    chunk_done()
            if batch:
                yield from self._findings(batch, subjects)

    def _findings(self, batch: list[dict[str, Any]], subjects: dict[str, Subject]) -> Iterator[Finding]:
        groups_held: dict[tuple[int, str], list[int | None]] = {}
        for durable_rule, fact_id in self.fire(batch):
            part = self.compiled.parts[durable_rule]
            groups_held.setdefault((part.rule_index, fact_id), []).append(part.group_index)
        for (rule_index, fact_id), held in sorted(groups_held.items(), key=lambda item: (item[0][1], item[0][0])):
            yield self._why(rule_index, held).finding(subjects[fact_id])

    def _why(self, rule_index: int, held: list[int | None]) -> _Why:
        key = (rule_index, tuple(sorted(g for g in held if g is not None)))
        why = self._whys.get(key)
        if why is None:
            why = self._whys[key] = _Why.of(self.policy.rules[rule_index], key[1])
        return why


@dataclass(frozen=True)
class _Why:
    """What a rule compares when these of its `any` groups held: worked out once per (rule, groups)
    rather than per finding (a policy's conditions are pydantic models, slow to read a hundred
    thousand times)."""

    rule: Rule
    metrics: tuple[str, ...]
    tests: tuple[tuple[str, str, Any], ...]
    """(metric, operator, threshold) for every operator of every condition that held."""
    title: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, rule: Rule, groups: tuple[int, ...]) -> _Why:
        conditions = list(rule.when.items())
        for group_index in groups:
            conditions.extend(rule.any[group_index].items())
        tests = tuple((metric, operator, threshold) for metric, condition in conditions
                      for operator, threshold in condition.operators().items())
        return cls(rule, tuple(dict.fromkeys(metric for metric, _ in conditions)), tests,
                   (("en", rule.title.en), ("zh-CN", rule.title.zh_cn)))

    def finding(self, subject: Subject) -> Finding:
        metrics = {metric: jsonable(subject.get(metric)) for metric in self.metrics}
        reasons = [{"metric": metric, "operator": operator, "threshold": threshold, "value": metrics[metric]}
                   for metric, operator, threshold in self.tests]
        lot = subject.lot
        value = subject.sku_site.on_hand_value if lot is None else lot.value
        metrics["on_hand_value" if lot is None else "value"] = jsonable(value)
        rule = self.rule
        return Finding(
            rule=rule.id, level=rule.level.value, sku=subject.sku_site.sku, site=subject.sku_site.site,
            lot="" if lot is None else lot.lot, serial="" if lot is None else lot.serial,
            severity=rule.severity.value, value=value, metrics=metrics, reasons=reasons, title=dict(self.title),
        )


_evaluators: dict[int, tuple[Policy, Evaluator]] = {}


def evaluator_for(policy: Policy) -> Evaluator:
    """One evaluator per policy object (stored versions are parsed once, see rules.versions); keeping the
    policy referenced keeps its id from being reused by another object."""
    with _host_lock:
        found = _evaluators.get(id(policy))
    if found is None:
        found = (policy, Evaluator(policy))
        with _host_lock:
            if len(_evaluators) >= 32:
                _evaluators.clear()
            _evaluators[id(policy)] = found
    return found[1]
