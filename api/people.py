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

from fastapi import APIRouter, Request

from api.deps import AdminDep, DirectoryDep, EngineDep, PeopleReaderDep, SettingsDep, keep_directory
from api.problems import REFUSALS, YAML_BODY, problems_response, yaml_text
from audit.trail import append
from notifications.people import parse_people
from rules.loader import PolicyInvalid


def _scheme(channel: str) -> str:
    """A channel without its secret: apprise URLs carry tokens (a webhook key, a bot token)."""
    return channel if "://" not in channel else channel.split("://", 1)[0] + "://…"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".people-", suffix=".yaml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


router = APIRouter(tags=["people"], responses=REFUSALS)


@router.get("/people", summary="Who Stockwarden writes to: name, roles, language, manager, channels (no secrets)")
async def people(_: PeopleReaderDep, directory: DirectoryDep) -> list[dict[str, Any]]:
    return [{"email": p.email, "name": p.name, "roles": [r.value for r in p.roles], "language": p.language.value,
             "manager": p.manager, "channels": [_scheme(c) for c in p.channels], "digest": p.digest}
            for p in sorted(directory.people.values(), key=lambda p: p.email)]


@router.put("/people", summary="Replace people.yaml with a checked one (every problem with line and column)")
async def replace(request: Request, who: AdminDep, engine: EngineDep, settings: SettingsDep,
                  body: Annotated[str, YAML_BODY] = "") -> Any:
    text = await yaml_text(request)
    path: Path = settings.people_file
    try:
        directory = parse_people(text, path.name)
    except PolicyInvalid as invalid:
        return problems_response(invalid)
    before = path.read_bytes() if path.exists() else b""
    with engine.begin() as connection:  # the file is written inside the audit's transaction
        append(connection, actor=who.person, action="people.replaced", subject=f"file:{path.name}",
               before={"sha256": hashlib.sha256(before).hexdigest()},
               after={"sha256": hashlib.sha256(text.encode()).hexdigest(), "people": len(directory.people)})
        _write_atomically(path, text)
    keep_directory(request, directory)
    return {"people": len(directory.people)}
