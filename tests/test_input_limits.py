"""Limits on every input, each proven by the attack it stops: a YAML alias bomb, a zip-bomb workbook, an
export of endless bad rows, months written in other scripts' digits, and bodies too large or sent without
credentials (refused before they are read)."""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import openpyxl
import pytest
from sqlalchemy import Engine, func, select, text
from sqlmodel import col

from api.app import create_app
from api.auth import create_token
from core.settings import Settings
from governance.visibility import Role
from inventory.ingest import IngestFailed, ingest
from inventory.sources import SourceError
from reports.models import KpiValue
from tests.support.data import AS_OF, LOT_HEADER, MATERIALS, write_export

ROOT = Path(__file__).resolve().parents[1]
ARABIC_MONTH = "٢٠٢٦-11"
"""2026-11 with the year in Arabic-Indic digits: `\\d{4}` matched it and int() read 2026, so it stored a second
set of KPI rows and a second pack for November (all six digits, `٢٠٢٦-١١`, failed only the month's `1[0-2]`)."""
LAUGHS = "\n".join([  # "billion laughs" (342 bytes): 9 levels of 9 aliases, 9^9 strings when expanded
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    *[f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)],
]) + "\n"


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")  # type: ignore[arg-type]


def cli(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockwarden.cli", *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=cwd, env={**os.environ, "STOCKWARDEN_DATABASE_URL": database_url,
                                        "STOCKWARDEN_VAR_DIR": str(cwd / "var")})


# --- YAML aliases ----------------------------------------------------------------------------------

def _bounded(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a process that may use at most 1 GiB, so that a regression fails instead of eating
    the machine (the bomb took 3.6 GB when it was expanded)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
                          preexec_fn=limit)


@pytest.mark.parametrize(("reader", "label"), [("rules.loader:parse_policy", "policies/bomb.yaml"),
                                                ("notifications.people:parse_people", "policies/people.yaml")])
def test_a_yaml_alias_bomb_is_refused_before_it_expands(reader: str, label: str) -> None:
    module, function = reader.split(":")
    done = _bounded(f"""
import json
from {module} import {function}
from rules.loader import PolicyInvalid
try:
    {function}({LAUGHS!r}, {label!r})
except PolicyInvalid as invalid:
    print(json.dumps([str(p) for p in invalid.problems]))
""")
    assert done.returncode == 0, done.stderr[-2000:]
    problems = json.loads(done.stdout)
    assert problems[0] == (f"{label}:1:4: YAML anchor '&a': anchors and aliases are not allowed "
                           "(write the value out in full)")
    assert f"{label}:2:8: YAML alias '*a': anchors and aliases are not allowed (write the value out in full)" in problems
    assert len(problems) == 20  # the first twenty say what to fix


def test_a_merge_key_is_an_alias_too() -> None:
    from rules.loader import PolicyInvalid, parse_policy

    text = (ROOT / "policies" / "default.yaml").read_text(encoding="utf-8") + "x: &defaults {a: 1}\ny:\n  <<: *defaults\n"
    with pytest.raises(PolicyInvalid) as invalid:
        parse_policy(text, "p.yaml")
    assert [p.message for p in invalid.value.problems] == [
        "YAML anchor '&defaults': anchors and aliases are not allowed (write the value out in full)",
        "YAML alias '*defaults': anchors and aliases are not allowed (write the value out in full)"]


@pytest.mark.asyncio
async def test_the_bomb_sent_to_policies_validate_is_refused_with_its_place(engine: Engine, tmp_path: Path) -> None:
    token = create_token(engine, "compliance@example.com", [Role.COMPLIANCE])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with _client(app) as client:
        answer = await client.post("/policies/validate", params={"name": "bomb.yaml"}, content=LAUGHS,
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"})
    assert answer.status_code == 422
    first = answer.json()["problems"][0]
    assert (first["file"], first["line"], first["column"]) == ("bomb.yaml", 1, 4)
    assert "anchors and aliases are not allowed" in first["message"]


# --- zip-bomb workbooks ------------------------------------------------------------------------------

def _zip_bomb(path: Path, unpacked_mb: int = 24) -> Path:
    """A real workbook (materials and lots sheets) whose lots sheet goes on for `unpacked_mb` MB of the same
    row: a few dozen KB on disk."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "materials"
    for line in MATERIALS.splitlines():
        sheet.append(line.split(","))
    book.create_sheet("lots").append(LOT_HEADER.strip().split(","))
    plain = io.BytesIO()
    book.save(plain)
    row = b'<row><c t="inlineStr"><is><t>lol</t></is></c><c t="inlineStr"><is><t>SH01</t></is></c></row>'
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for member in source.infolist():
            data = source.read(member)
            if member.filename != "xl/worksheets/sheet2.xml":
                bomb.writestr(member, data)
                continue
            head, _, tail = data.decode().rpartition("</sheetData>")
            with bomb.open(member.filename, "w") as out:
                out.write(head.encode())
                for _ in range(unpacked_mb):
                    out.write(row * ((1 << 20) // len(row)))
                out.write(b"</sheetData>" + tail.encode())
    return path


def test_a_zip_bomb_workbook_is_refused_unread(engine: Engine, tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "export.xlsx")
    assert bomb.stat().st_size < 100_000  # small on disk
    with pytest.raises(SourceError) as refused:
        ingest(engine, bomb, as_of=AS_OF)
    message = str(refused.value)
    assert message.startswith("export.xlsx: the workbook would unpack to 25,")
    assert "refused unread as a zip bomb" in message
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(KpiValue)).scalar_one() == 0


# --- endless bad rows --------------------------------------------------------------------------------

def _bad_export(folder: Path, rows: int = 3_000) -> Path:
    """Every row has two problems: an unknown SKU and a quantity that is not a number."""
    lines = "".join(f"NO-{n},SH01,L{n},,many,,2026-01-01,,,,released,\n" for n in range(rows))
    return write_export(folder, lots=LOT_HEADER + lines)


def test_an_export_of_endless_bad_rows_reports_the_first_thousand_and_the_count(engine: Engine, tmp_path: Path,
                                                                               database_url: str) -> None:
    folder = _bad_export(tmp_path / "bad")
    with pytest.raises(IngestFailed) as failed:
        ingest(engine, folder, as_of=AS_OF)
    assert failed.value.total == 6_000
    assert len(failed.value.errors) == 1_000
    assert str(failed.value.errors[0]) == "lots.csv:2: sku: unknown SKU 'NO-0' (not in materials)"
    assert str(failed.value.errors[-1]) == "lots.csv:501: qty: 'many' is not a number"

    shown = cli("ingest", str(folder), "--as-of", AS_OF.isoformat(), database_url=database_url, cwd=tmp_path)
    assert shown.returncode == 1
    assert sum(bool(re.match(r"lots\.csv:\d", line)) for line in shown.stderr.splitlines()) == 1_000
    assert "6,000 problem(s) (the first 1,000 shown); nothing was stored." in shown.stderr


@pytest.mark.asyncio
async def test_the_api_answers_the_first_thousand_problems_and_the_count(engine: Engine, tmp_path: Path) -> None:
    folder = _bad_export(tmp_path / "bad")
    token = create_token(engine, "erp@example.com", [Role.ERP])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    async with _client(app) as client:
        answer = await client.post("/snapshots", headers={"Authorization": f"Bearer {token}"}, files=[
            ("files", ("materials.csv", (folder / "materials.csv").read_bytes())),
            ("files", ("lots.csv", (folder / "lots.csv").read_bytes()))])
    assert answer.status_code == 422
    body = answer.json()
    assert body["total"] == 6_000 and len(body["errors"]) == 1_000
    assert body["errors"][0] == {"file": "lots.csv", "row": 2, "column": "sku", "message": "unknown SKU 'NO-0' (not in materials)"}


# --- months in ASCII digits only ---------------------------------------------------------------------

@pytest.mark.asyncio
async def test_a_month_in_other_digits_is_refused_by_the_api(company: Engine, tmp_path: Path) -> None:
    token = create_token(company, "cfo@example.com", [Role.ADMIN])
    app = create_app(company, None, Settings(var_dir=tmp_path / "var"))  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}"}
    async with _client(app) as client:
        for route in (f"/kpis/{ARABIC_MONTH}", f"/packs/{ARABIC_MONTH}", f"/pages/kpis?period={ARABIC_MONTH}"):
            answer = await client.get(route, headers=headers)
            assert answer.status_code == 422, (route, answer.status_code)
        assert (await client.get("/kpis/2026-11", headers=headers)).status_code == 200
    with company.connect() as connection:
        periods = set(connection.execute(select(col(KpiValue.period))).scalars())
    assert periods == {"2026-11"}  # no second set of rows for the same month
    assert not (tmp_path / "var" / "packs" / f"governance-pack-{ARABIC_MONTH}-zh-CN.xlsx").exists()


def test_a_month_in_other_digits_is_refused_by_the_cli(company: Engine, database_url: str, tmp_path: Path) -> None:
    kpis = cli("kpis", "--period", ARABIC_MONTH, database_url=database_url, cwd=tmp_path)
    assert kpis.returncode == 1 and f"--period '{ARABIC_MONTH}' is not a month (YYYY-MM)" in kpis.stderr
    out = tmp_path / "pack.xlsx"
    pack = cli("pack", "--period", ARABIC_MONTH, "--out", str(out), database_url=database_url, cwd=tmp_path)
    assert pack.returncode == 1 and "is not a month (YYYY-MM)" in pack.stderr and not out.exists()
    with company.connect() as connection:
        assert connection.execute(select(func.count()).select_from(KpiValue)).scalar_one() == 0


def test_a_demand_month_in_other_digits_is_a_row_problem(engine: Engine, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "x", lots=LOT_HEADER + "CAT-1,SH01,A,,1,,2026-01-01,,,,released,\n",
                          demand=f"sku,site,period,qty,kind\nCAT-1,SH01,{ARABIC_MONTH},3,actual\n")
    with pytest.raises(IngestFailed) as failed:
        ingest(engine, folder, as_of=AS_OF)
    assert [str(e) for e in failed.value.errors] == [
        f"demand.csv:2: period: '{ARABIC_MONTH}' is not a month (expected YYYY-MM)"]


# --- bodies: credentials before a byte is read, and a size limit per route ------------------------

async def _call_unread(app: object, method: str, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """Call the ASGI app with a 16 MB body and no credential; the status and how many body chunks it read."""
    read = 0

    async def receive() -> dict[str, object]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * (1 << 20), "more_body": read < 16}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in {**headers, "content-length": str(16 << 20)}.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 5000), "server": ("api", 80)}
    await app(scope, receive, send)  # type: ignore[operator]
    return int(sent[0]["status"]), read  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_a_body_without_a_credential_is_refused_before_a_byte_is_read(engine: Engine, tmp_path: Path) -> None:
    from audit.trail import entries

    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", body_max_kb=32 << 10))  # type: ignore[arg-type]
    for method, path, kind in [("POST", "/policies/validate", "application/yaml"),
                               ("POST", "/snapshots/records", "application/json"),
                               ("POST", "/snapshots", "multipart/form-data; boundary=b"),
                               ("POST", "/cases/case/idle/SH01/HIP-1/comment", "application/json"),
                               ("PUT", "/people", "application/yaml"),
                               ("POST", "/pages/policy-preview", "application/x-www-form-urlencoded")]:
        for headers in ({}, {"authorization": "Bearer sw_not-a-token"}, {"cookie": "sw_session=forged"}):
            status, read = await _call_unread(app, method, path, {"content-type": kind, **headers})
            assert (status, read) == (401, 0), (method, path, headers)
    with engine.connect() as connection:  # refusals naming nobody are counted per address, not chained
        refusals = [e for e in entries(connection, limit=1_000) if e.action == "api.refused"]
        counted = connection.execute(text("SELECT SUM(count) FROM refusal_count WHERE reason LIKE 'no valid token%'")).scalar()
    assert refusals == [] and counted == 18


@pytest.mark.asyncio
async def test_a_body_beyond_its_routes_limit_is_413_by_length_and_while_streaming(engine: Engine, tmp_path: Path) -> None:
    token = create_token(engine, "compliance@example.com", [Role.COMPLIANCE, Role.ERP])
    settings = Settings(var_dir=tmp_path / "var", body_max_kb=64, upload_max_mb=1, records_max_mb=1)
    app = create_app(engine, None, settings)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/yaml"}
    policy = (ROOT / "policies" / "default.yaml").read_bytes()
    async with _client(app) as client:
        fits = await client.post("/policies/validate", content=policy, headers=headers)
        assert fits.status_code == 200, fits.text
        long = await client.post("/policies/validate", content=policy + b"#" * (64 << 10), headers=headers)
        assert long.status_code == 413
        assert long.json()["detail"] == ("the request body is larger than this route takes (65,536 bytes; "
                                         "STOCKWARDEN_BODY_MAX_KB)")

        sent = 0

        async def chunks() -> object:  # no Content-Length: Transfer-Encoding chunked
            nonlocal sent
            for _ in range(64):
                sent += 1
                yield b"# " + b"x" * 8190

        streamed = await client.post("/policies/validate", content=chunks(), headers=headers)  # type: ignore[arg-type]
        assert streamed.status_code == 413 and "STOCKWARDEN_BODY_MAX_KB" in streamed.json()["detail"]
        assert sent < 64  # it stopped reading at the limit

        upload = [("files", ("lots.csv", LOT_HEADER.encode() + b"x" * (1 << 20)))]
        too_big = await client.post("/snapshots", files=upload, headers={"Authorization": f"Bearer {token}"})
        assert too_big.status_code == 413 and "STOCKWARDEN_UPLOAD_MAX_MB" in too_big.json()["detail"]
        records = await client.post("/movements/records", json={"movements": [{"sku": "x" * 1000}] * 1100},
                                    headers={"Authorization": f"Bearer {token}"})
        assert records.status_code == 413 and "STOCKWARDEN_RECORDS_MAX_MB" in records.json()["detail"]


@pytest.mark.asyncio
async def test_sign_in_forms_and_pages_keep_working_and_say_413_in_the_readers_language(engine: Engine,
                                                                                      tmp_path: Path) -> None:
    token = create_token(engine, "compliance@example.com", [Role.COMPLIANCE])
    app = create_app(engine, None, Settings(var_dir=tmp_path / "var", body_max_kb=16))  # type: ignore[arg-type]
    async with _client(app) as client:
        signed = await client.post("/pages/login", data={"token": token, "next": "/pages/policy-preview"})
        assert signed.status_code == 303  # the sign-in form carries its own credential
        preview = await client.post("/pages/policy-preview", data={"draft": "policy: x"})  # the session cookie
        assert preview.status_code == 422 and "is required" in preview.text  # the draft was read and checked
        big = await client.post("/pages/policy-preview", data={"draft": "x" * (16 << 10)})
        assert big.status_code == 413 and "提交的内容超过此页面允许的大小。" in big.text
        client.cookies.clear()
        anonymous = await client.post("/pages/policy-preview", data={"draft": "policy: x"})
        assert anonymous.status_code == 401 and "请先登录。" in anonymous.text  # the sign-in page, as before
        link = await client.post("/act/not-a-link", data={"reason": "x"})
        assert link.status_code != 401  # the link route judges its own token


def test_a_policy_version_in_other_digits_is_a_plain_refusal(engine: Engine) -> None:
    from rules.versions import PolicyConflict, version_text

    with engine.connect() as connection:
        for reference in ("default@³", "default@٣"):  # str.isdigit() took both; int() raised on the first
            with pytest.raises(PolicyConflict):
                version_text(connection, reference, files=False)
