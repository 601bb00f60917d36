"""What the ERP sends: snapshots (CSV files, one .xlsx or JSON records in the ingest format) and
movements (a file or JSON records). Bad rows come back as a structured list (file, row, column, message)
with status 422, and nothing is stored."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import date
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi import Path as PathParameter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from api.deps import EngineDep, ErpDep, ScannerDep, SettingsDep, SnapshotReaderDep
from api.problems import REFUSALS, ROW_ID_MAX, answers
from governance.visibility import Principal
from inventory.ingest import IngestFailed, ingest
from inventory.movements import AlreadyApplied
from inventory.profiles import Profile, ProfileInvalid, ProfileUnknown, load_profile
from inventory.sources import SourceError
from rules.incremental import finding_subject, reevaluate
from rules.scan import NothingToScan, finding_json
from rules.snapshots import REASON_MAX, SnapshotRefused, decide, listed, suspect_drop_of

Record = dict[str, str | int | float | bool | None]
"""One row: the CSV file's column names as keys, plain values."""


class SnapshotRecords(BaseModel):
    """A snapshot as JSON: each table a list of records keyed by its CSV file's columns (README: the ingest
    contract); as_of defaults to today, as for files."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "as_of": "2026-11-25",
        "materials": [{"sku": "HIP-1", "name": "Hip stem", "category": "implant", "risk_class": "III",
                       "base_uom": "EA", "unit_cost": 8200, "currency": "CNY"}],
        "lots": [{"sku": "HIP-1", "site": "SH01", "lot": "L1", "serial": "S1", "qty": 1,
                  "received_on": "2025-01-10", "expires_on": "2029-10-01", "qc_status": "released"}]}]})
    as_of: date | None = None
    materials: list[Record] = Field(min_length=1)
    lots: list[Record]
    uom_conversions: list[Record] = Field(default_factory=list)
    movements: list[Record] = Field(default_factory=list)
    demand: list[Record] = Field(default_factory=list)
    purchase_orders: list[Record] = Field(default_factory=list)


class MovementRecords(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"movements": [
        {"sku": "CAT-1", "site": "SH01", "lot": "B", "type": "issue", "qty": 5, "moved_on": "2026-11-25",
         "reference": "SO-77"}]}]})
    movements: list[Record] = Field(min_length=1, max_length=100_000)


def _row_errors(failed: IngestFailed) -> JSONResponse:
    """The first problems (inventory.fields.REPORTED) and how many there are in all."""
    return JSONResponse(status_code=422, content={"total": failed.total, "errors": [
        {"file": e.file, "row": e.line, "column": e.column, "message": e.message} for e in failed.errors]})


def _unplaced(problem: Exception, folder: Path) -> str:
    """The words of a refusal without the server's upload folder: a file is named by its own name."""
    return str(problem).replace(f"{folder}/", "").replace(str(folder), "the upload")


def _folder(var_dir: Path) -> Path:
    folder = Path(var_dir) / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


async def _save(var_dir: Path, files: list[UploadFile]) -> Path:
    """Uploaded files into a fresh folder under var/uploads, by their own names (no directories)."""
    folder = _folder(var_dir)
    for upload in files:
        name = PurePath(upload.filename or "").name
        if not name or not name.lower().endswith((".csv", ".xlsx", ".xls")):
            shutil.rmtree(folder)
            raise HTTPException(422, f"'{upload.filename}' is not a .csv, .xlsx or .xls file")
        with (folder / name).open("wb") as out:  # in chunks: an upload may be STOCKWARDEN_UPLOAD_MAX_MB
            await asyncio.to_thread(shutil.copyfileobj, upload.file, out, 1 << 20)
    return folder


router = APIRouter(tags=["feeds"], responses=REFUSALS)


async def ingest_from(engine: Engine, folder: Path, source: Path, as_of: date | None, who: Principal,
                      profile: Profile | None = None) -> Any:
    try:
        result = await asyncio.to_thread(ingest, engine, source, as_of=as_of, loaded_by=who.person, profile=profile,
                                         suspect_drop=await asyncio.to_thread(suspect_drop_of, engine))
    except IngestFailed as failed:
        return _row_errors(failed)
    except SourceError as problem:
        return JSONResponse(status_code=422, content={"errors": [{"file": None, "row": None, "column": None,
                                                                  "message": _unplaced(problem, folder)}]})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"snapshot_id": result.snapshot_id, "as_of": result.as_of.isoformat(), "row_counts": result.row_counts,
            "already_loaded": result.already_loaded, "state": result.state,
            "held_because": [{"code": r.code, "en": r.en, "zh-CN": r.zh_cn} for r in result.held_because]}


def _profile(name: str | None) -> Profile | None:
    """The shipped profile of that name (erp_profiles/); never a path: a request does not choose server files."""
    if name is None:
        return None
    try:
        return load_profile(name, allow_path=False)
    except ProfileUnknown as unknown:
        raise HTTPException(422, str(unknown)) from None
    except ProfileInvalid as invalid:
        raise HTTPException(422, "; ".join(map(str, invalid.problems))) from None


@router.post("/snapshots", summary="Load a snapshot: CSV files (materials.csv, lots.csv, ...) or one .xlsx; with "
             "`profile`, the ERP's own exports (erp_profiles/: sap, erpnext, odoo, kingdee, yonyou_u8)")
async def load(who: ErpDep, engine: EngineDep, settings: SettingsDep,
               files: Annotated[list[UploadFile], File()], as_of: Annotated[date | None, Form()] = None,
               profile: Annotated[str | None, Query(max_length=60, description="an ERP mapping profile's name")] = None,
               ) -> Any:
    mapping = _profile(profile)
    folder = await _save(settings.var_dir, files)
    books = [path for path in folder.iterdir() if path.suffix.lower() in (".xlsx", ".xls")]
    source = books[0] if len(books) == 1 and len(files) == 1 else folder
    return await ingest_from(engine, folder, source, as_of, who, mapping)


@router.post("/snapshots/records", summary="Load a snapshot sent as JSON records; a row is a record's place in its list")
async def load_records(who: ErpDep, engine: EngineDep, settings: SettingsDep, body: SnapshotRecords) -> Any:
    folder = _folder(settings.var_dir)
    source = folder / "snapshot.json"
    source.write_text(json.dumps(body.model_dump(exclude={"as_of"}), default=str), encoding="utf-8")
    return await ingest_from(engine, folder, source, body.as_of, who)


@router.get("/snapshots", summary="Loaded snapshots, newest first, each accepted (used), suspect (held until a "
            "person decides) or rejected")
async def snapshots(_: SnapshotReaderDep, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [row.as_json() for row in listed(connection)]


class SnapshotDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "stock count of SH01 confirms the drop: the consignment stock went back to the supplier"}]})

    reason: str = Field(min_length=1, max_length=REASON_MAX)


async def _decide(engine: Engine, snapshot_id: int, body: SnapshotDecision, who: Principal, *, accept: bool) -> Any:
    try:
        row = await asyncio.to_thread(decide, engine, snapshot_id, accept=accept, actor=who.person, reason=body.reason)
    except SnapshotRefused as refused:
        raise HTTPException(refused.status, str(refused)) from None
    return row.as_json()


SnapshotId = Annotated[int, PathParameter(ge=1, le=ROW_ID_MAX)]


@router.post("/snapshots/{snapshot_id}/accept", responses=answers(404, 409),
             summary="Accept a suspect snapshot as the truth, with a reason (audited): the next scan uses it")
async def accept_snapshot(snapshot_id: SnapshotId, body: SnapshotDecision, who: ScannerDep, engine: EngineDep) -> Any:
    return await _decide(engine, snapshot_id, body, who, accept=True)


@router.post("/snapshots/{snapshot_id}/reject", responses=answers(404, 409),
             summary="Reject a suspect snapshot, with a reason (audited): it stays stored and is never used")
async def reject_snapshot(snapshot_id: SnapshotId, body: SnapshotDecision, who: ScannerDep, engine: EngineDep) -> Any:
    return await _decide(engine, snapshot_id, body, who, accept=False)


async def apply(engine: Engine, folder: Path, source: Path, who: Principal) -> Any:
    try:
        result = await asyncio.to_thread(reevaluate, engine, source, actor=who.person)
    except IngestFailed as failed:
        return _row_errors(failed)
    except (SourceError, NothingToScan) as problem:
        raise HTTPException(422, _unplaced(problem, folder)) from None
    except AlreadyApplied as problem:
        raise HTTPException(409, _unplaced(problem, folder)) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"movements": result.movements, "skipped": result.skipped, "sku_sites": result.sku_sites,
            "opened": [finding_json(f) for f in result.opened],
            "cleared": [finding_subject(f) for f in result.cleared]}


@router.post("/movements", responses=answers(409), summary="Apply movements (a CSV file or a workbook's movements sheet); the findings they open and clear")
async def movements(who: ErpDep, engine: EngineDep, settings: SettingsDep, file: Annotated[UploadFile, File()]) -> Any:
    folder = await _save(settings.var_dir, [file])
    return await apply(engine, folder, folder / PurePath(file.filename or "").name, who)


@router.post("/movements/records", responses=answers(409), summary="Apply one or many movements sent as JSON records")
async def movement_records(who: ErpDep, engine: EngineDep, settings: SettingsDep, body: MovementRecords) -> Any:
    folder = _folder(settings.var_dir)
    source = folder / "movements.json"
    source.write_text(json.dumps(body.model_dump(), default=str), encoding="utf-8")
    return await apply(engine, folder, source, who)
