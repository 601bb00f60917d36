"""A workflow that does nothing: the baseline start rate of a Temporal server and client. Kept in a module
of its own, since the workflow sandbox re-imports the module that defines a workflow."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn
class TrivialWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None
