"""The production layout, checked without a Docker engine: every STOCKWARDEN_* variable it sets is a
setting Stockwarden reads, the image copies every package the project installs, the Stockwarden services
run commands that exist, and (where Debian's docker-compose is installed) the file passes
`docker-compose config`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from stockwarden.cli import app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_every_stockwarden_variable_is_a_setting() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    for name, service in COMPOSE["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("STOCKWARDEN_"):
                assert variable.removeprefix("STOCKWARDEN_") in settings, f"{name}: {variable} is read by nothing"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for variable in re.findall(r"STOCKWARDEN_[A-Z_]+", dockerfile):
        assert variable.removeprefix("STOCKWARDEN_") in settings, f"Dockerfile: {variable}"


def test_the_image_holds_every_package_and_the_services_run_real_commands() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M))
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}  # type: ignore[union-attr]
    for name in ("migrate", "api", "worker", "codec-server"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "stockwarden" and command[1] in commands, (name, command)


REQUIRED = {"POSTGRES_PASSWORD": "a-postgres-password", "STOCKWARDEN_SECRET_KEY": "k" * 48,
            "STOCKWARDEN_CODEC_SERVER_TOKEN": "a-codec-server-token"}
"""What an operator must set: the file has no default for any of them."""


def compose_config(**variables: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with only these of the variables (and PATH), from a folder with no .env."""
    return subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], check=False,
                          env={"PATH": os.environ["PATH"], **variables}, cwd=ROOT / "docs",
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    done = compose_config(**REQUIRED)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
@pytest.mark.parametrize("missing", list(REQUIRED))
def test_docker_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    done = compose_config(**{k: v for k, v in REQUIRED.items() if k != missing})
    assert done.returncode != 0 and f"set {missing}" in done.stderr, done.stderr


def test_temporal_is_off_public_ports_and_its_ui_reads_only_through_the_codec_server() -> None:
    services = COMPOSE["services"]
    assert "ports" not in services["temporal"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert name == "api" or str(port).startswith("127.0.0.1:"), (name, port)
        secret = service.get("environment", {}).get("STOCKWARDEN_SECRET_KEY")
        assert secret is None or secret.startswith("${STOCKWARDEN_SECRET_KEY:?"), (name, secret)
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true" and ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8081"
    assert services["codec-server"]["command"][:2] == ["stockwarden", "codec-server"]
    assert "change-me" not in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
