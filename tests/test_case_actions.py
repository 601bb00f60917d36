"""The one case action (governance/actions.py) sends Updates by name, since governance sits below the
workflows: every name it sends must be one CaseWorkflow declares, so renaming an Update fails here."""

from __future__ import annotations

import typing

from temporalio import workflow

from governance.actions import UPDATES, VIEW
from workflows.case import CaseWorkflow


def test_every_update_and_query_sent_by_name_is_declared_by_the_case_workflow() -> None:
    definition = workflow._Definition.must_from_class(CaseWorkflow)
    for message, update in UPDATES.items():
        assert update.name in definition.updates, f"CaseWorkflow has no Update {update.name!r} ({message.__name__})"
        declared = definition.updates[update.name]
        hints = typing.get_type_hints(declared.fn)
        assert hints["request"] is message, (update.name, hints)
        assert hints["return"] == update.result, (update.name, hints["return"], update.result)
    assert set(definition.updates) == {u.name for u in UPDATES.values()}, "an Update no action sends"
    assert VIEW.name in definition.queries
    assert typing.get_type_hints(definition.queries[VIEW.name].fn)["return"] is VIEW.result
