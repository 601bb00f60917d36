"""The people directory (people.yaml) over HTTP: read it, and replace it with a checked one. A file with
any problem is refused with every problem's line and column and the one in place stays; a good one is
written atomically (temporary file, then rename) and audited with the hashes of both texts. The worker
reads the file at each delivery run, so a change reaches the next message."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, Role, require
from api.problems import REFUSALS, YAML_BODY, problems_response, yaml_text
from api.web import directory_of
from audit.trail import append
from notifications.people import parse_people
from rules.loader import PolicyInvalid

PEOPLE_READERS = (Role.ADMIN, Role.COMPLIANCE, Role.COMMITTEE)


def _scheme(channel: str) -> str:
    """A channel without its secret: apprise URLs carry tokens (a webhook key, a bot token)."""
    return channel if "://" not in channel else channel.split("://", 1)[0] + "://…"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".people-", suffix=".yaml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def router() -> APIRouter:
    routes = APIRouter(tags=["people"], responses=REFUSALS)

    @routes.get("/people", summary="Who Stockwarden writes to: name, roles, language, manager, channels (no secrets)")
    async def people(request: Request, _: Annotated[Principal, Depends(require(*PEOPLE_READERS))]) -> list[dict[str, Any]]:
        directory = directory_of(request)
        return [{"email": p.email, "name": p.name, "roles": [r.value for r in p.roles], "language": p.language.value,
                 "manager": p.manager, "channels": [_scheme(c) for c in p.channels], "digest": p.digest}
                for p in sorted(directory.people.values(), key=lambda p: p.email)]

    @routes.put("/people", summary="Replace people.yaml with a checked one (every problem with line and column)")
    async def replace(request: Request, who: Annotated[Principal, Depends(require(Role.ADMIN))],
                      body: Annotated[str, YAML_BODY] = "") -> Any:
        text = await yaml_text(request)
        path: Path = request.app.state.settings.people_file
        try:
            directory = parse_people(text, path.name)
        except PolicyInvalid as invalid:
            return problems_response(invalid)
        before = path.read_bytes() if path.exists() else b""
        with request.app.state.engine.begin() as connection:  # the file is written inside the audit's transaction
            append(connection, actor=who.person, action="people.replaced", subject=f"file:{path.name}",
                   before={"sha256": hashlib.sha256(before).hexdigest()},
                   after={"sha256": hashlib.sha256(text.encode()).hexdigest(), "people": len(directory.people)})
            _write_atomically(path, text)
        if request.app.state.directory is not None:  # an app given its directory (tests) keeps it in step
            request.app.state.directory = directory
        return {"people": len(directory.people)}

    return routes
