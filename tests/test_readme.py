"""The README's two set-up commands are the ones that run: CI calls the second, word for word."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_two_commands_and_ci_runs_the_second() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("stockwarden up")
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    ci = [line for line in script if line.startswith("python3 ")]
    assert ci == [commands[1]] and script[-1] == commands[1]  # besides installing LibreOffice, CI runs just that
