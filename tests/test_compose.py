"""The production layout, checked without a Docker engine: every STOCKWARDEN_* variable it sets is a
setting Stockwarden reads, the image copies every package the project installs, the Stockwarden services
run commands that exist, and (where Debian's docker-compose is installed) the file passes
`docker-compose config`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from stockwarden.cli import app
from stockwarden.settings import Settings

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
    for name in ("migrate", "api", "worker"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "stockwarden" and command[1] in commands, (name, command)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    done = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
