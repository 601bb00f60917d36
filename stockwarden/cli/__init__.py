"""The `stockwarden` command: thin wrappers that read settings, call the domain code and report plainly.

No traceback should reach a person for anything they can fix: bad input is reported with file, line
and column, and the exit code says whether the command did what was asked.

Each module holds the commands of one subject (`data`, `up`, `cases`, `kpis`, `forecast`, `notifications`,
`serve`, `scans`, `tokens`, `policy`, `profiles`, `audit`, `pins`, `snapshots`); `common` what they share. The
commands are registered
here, in the order `stockwarden --help` lists them.
"""

from __future__ import annotations

import os
import sys

from stockwarden.cli import (
    audit,
    cases,
    data,
    forecast,
    kpis,
    notifications,
    pins,
    policy,
    profiles,
    scans,
    serve,
    snapshots,
    tokens,
    up,
)
from stockwarden.cli.common import app
from stockwarden.temporal import core_logs_to_python

__all__ = ["app", "main"]

app.command("ingest")(data.ingest_command)
app.command("facts")(data.facts_command)
app.command("demo-data")(data.demo_data_command)
app.command("migrate")(data.migrate_command)
app.command("up")(up.up_command)
app.command("cases")(cases.cases_command)
app.command("kpis")(kpis.kpis_command)
app.command("pack")(kpis.pack_command)
app.command("forecast")(forecast.forecast_command)
app.command("notifications")(notifications.notifications_command)
app.command("worker")(serve.worker_command)
app.command("serve")(serve.serve_command)
app.command("codec-server")(serve.codec_server_command)
app.command("scan")(scans.scan_command)
app.command("movements")(data.movements_command)
app.add_typer(tokens.token_app, name="token")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(profiles.profile_app, name="profile")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(pins.pin_app, name="pin")
app.add_typer(cases.outbox_app, name="outbox")
app.add_typer(snapshots.snapshot_app, name="snapshot")


def main() -> None:
    """The console script. It leaves without interpreter teardown once the command is done (output
    flushed, transactions committed): temporalio's Rust threads can abort a finalizing interpreter with
    "PyGILState_Release ... must be current" (temporalio/sdk-python#300), turning a success into SIGABRT."""
    core_logs_to_python()
    try:
        app()
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
