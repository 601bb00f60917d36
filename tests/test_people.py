"""The people directory is checked like a policy: every problem at its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifications.people import Language, load_people, parse_people
from rules.loader import PolicyInvalid

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
people:
  - email: zhang.wei@example.com
    name: 张伟
    language: zh-CN
    manager: li.na@example.com
    channels: [email, "json://127.0.0.1:8080/hook"]
  - email: li.na@example.com
    name: 李娜
    roles: [manager, committee]
    language: en
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as invalid:
        parse_people(text, "policies/people.yaml")
    return [str(p) for p in invalid.value.problems]


def test_the_shipped_directory_is_valid_and_unknown_people_still_get_email() -> None:
    directory = load_people(ROOT / "policies" / "people.yaml")
    assert directory.person("zhang.wei@example.com").name == "张伟"
    stranger = directory.person("new.hire@example.com", language=Language.EN)
    assert (stranger.channels, stranger.language) == (["email"], "en")
    assert parse_people(GOOD, "x").person("LI.NA@example.com").roles == ["manager", "committee"]


@pytest.mark.parametrize(("change", "expected"), [
    (("channels: [email, \"json://", "channels: [email, \"jsno://"),
     "policies/people.yaml:6:23: people[0].channels[1]: 'jsno://127.0.0.1:8080/hook' is not a channel apprise "
     "can send to (did you mean 'json://'?)"),
    (("manager: li.na@example.com", "manager: lina@example.com"),
     "policies/people.yaml:5:14: people[0].manager: manager lina@example.com is not in this directory"),
    (("language: en", "language: fr"),
     "policies/people.yaml:10:15: people[1].language: Input should be 'zh-CN' or 'en' (got 'fr')"),
    (("    name: 李娜", "    nmae: 李娜"), "policies/people.yaml:8:5: people[1].nmae: unknown key 'nmae' (did you mean 'name'?)"),
    (("email: li.na@example.com", "email: zhang.wei@example.com"),
     "policies/people.yaml:7:12: people[1].email: zhang.wei@example.com is listed twice (also people[0])"),
    (("roles: [manager, committee]", "roles: [boss]"),
     "policies/people.yaml:9:13: people[1].roles[0]: Input should be"),
])
def test_each_problem_is_named_where_it_stands(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_yaml_that_is_not_a_directory_is_refused_without_a_traceback() -> None:
    assert problems("people: [")[0].startswith("policies/people.yaml:2:1: YAML syntax:")
    assert problems("- a\n- b\n") == ["policies/people.yaml:1:1: a people file is a mapping with a list under people"]


def test_policy_check_reads_people_yaml_too(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "people.yaml").write_text(GOOD.replace('"json://', '"slak://'), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "stockwarden.cli", "policy", "check", str(ROOT / "policies" / "people.yaml"),
                             str(tmp_path / "people.yaml")], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "STOCKWARDEN_VAR_DIR": str(tmp_path / "var")})
    assert result.returncode == 1
    assert "people.yaml: the directory of 9 people is valid." in result.stdout
    assert f"{tmp_path / 'people.yaml'}:6:23: people[0].channels[1]: 'slak://127.0.0.1:8080/hook' is not a channel" in result.stderr
    assert "Traceback" not in result.stderr
