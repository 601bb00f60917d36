"""What the ERP sends: snapshots (CSV files or one .xlsx in the ingest format) and movements. Bad rows
come back as a structured list (file, row, column, message) with status 422, and nothing is stored."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import date
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import select

from api.auth import Principal, Role, require
from inventory.ingest import IngestFailed, ingest
from inventory.models import Snapshot
from inventory.movements import AlreadyApplied
from inventory.sources import SourceError
from rules.incremental import reevaluate
from rules.scan import NothingToScan, finding_json

FEEDERS = (Role.ERP, Role.ADMIN)
READERS = (Role.ERP, Role.ADMIN, Role.VIEWER, Role.COMPLIANCE, Role.COMMITTEE)


def _row_errors(failed: IngestFailed) -> JSONResponse:
    return JSONResponse(status_code=422, content={"errors": [
        {"file": e.file, "row": e.line, "column": e.column, "message": e.message} for e in failed.errors]})


async def _save(request: Request, files: list[UploadFile]) -> Path:
    """Uploaded files into a fresh folder under var/uploads, by their own names (no directories)."""
    folder = Path(request.app.state.settings.var_dir) / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    for upload in files:
        name = PurePath(upload.filename or "").name
        if not name or not name.lower().endswith((".csv", ".xlsx")):
            shutil.rmtree(folder)
            raise HTTPException(422, f"'{upload.filename}' is not a .csv or .xlsx file")
        (folder / name).write_bytes(await upload.read())
    return folder


def router() -> APIRouter:
    routes = APIRouter(tags=["feeds"])

    @routes.post("/snapshots", summary="Load a snapshot: CSV files (materials.csv, lots.csv, ...) or one .xlsx")
    async def load(request: Request, who: Annotated[Principal, Depends(require(*FEEDERS))],
                   files: Annotated[list[UploadFile], File()], as_of: Annotated[date | None, Form()] = None) -> Any:
        folder = await _save(request, files)
        books = list(folder.glob("*.xlsx"))
        source = books[0] if len(books) == 1 and len(files) == 1 else folder
        try:
            result = await asyncio.to_thread(ingest, request.app.state.engine, source, as_of=as_of, loaded_by=who.person)
        except IngestFailed as failed:
            return _row_errors(failed)
        except SourceError as problem:
            return JSONResponse(status_code=422, content={"errors": [{"file": None, "row": None, "column": None,
                                                                      "message": str(problem)}]})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"snapshot_id": result.snapshot_id, "as_of": result.as_of.isoformat(), "row_counts": result.row_counts,
                "already_loaded": result.already_loaded}

    @routes.get("/snapshots", summary="Loaded snapshots, newest first")
    async def snapshots(request: Request, _: Annotated[Principal, Depends(require(*READERS))]) -> list[dict[str, Any]]:
        with request.app.state.engine.connect() as connection:
            rows = connection.execute(select(Snapshot).order_by(Snapshot.id.desc())).all()  # type: ignore[union-attr]
        return [{"id": r.id, "as_of": r.as_of.isoformat(), "loaded_by": r.loaded_by, "row_counts": r.row_counts} for r in rows]

    @routes.post("/movements", summary="Apply movements; the findings they open and clear")
    async def movements(request: Request, who: Annotated[Principal, Depends(require(*FEEDERS))],
                        file: Annotated[UploadFile, File()]) -> Any:
        folder = await _save(request, [file])
        try:
            result = await asyncio.to_thread(reevaluate, request.app.state.engine,
                                             folder / PurePath(file.filename or "").name, actor=who.person)
        except IngestFailed as failed:
            return _row_errors(failed)
        except (SourceError, NothingToScan) as problem:
            raise HTTPException(422, str(problem)) from None
        except AlreadyApplied as problem:
            raise HTTPException(409, str(problem)) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"movements": result.movements, "sku_sites": result.sku_sites,
                "opened": [finding_json(f) for f in result.opened],
                "cleared": [{"rule": f.rule, "sku": f.sku, "site": f.site, "lot": f.lot, "serial": f.serial}
                            for f in result.cleared]}

    return routes
