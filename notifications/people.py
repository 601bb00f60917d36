"""The directory of people: who they are, which language they read, whom they report to, and where
their messages go. Loaded from `people.yaml` beside the policies and checked like a policy (every
problem at its file, line and column), so a mistyped chat URL is found before a message is lost."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import apprise
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from rules.loader import Path_, parse_document, read_document

PEOPLE_FILE = "people.yaml"
EMAIL = "email"
"""The channel word for "email to this person's address through the configured SMTP server"."""


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    COMMITTEE = "committee"
    QA = "qa"
    COMPLIANCE = "compliance"
    ADMIN = "admin"
    VIEWER = "viewer"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: EmailStr
    name: str = Field(min_length=1, max_length=120)
    roles: list[Role] = Field(default_factory=lambda: [Role.OWNER])
    language: Language = Language.ZH_CN
    manager: EmailStr | None = None
    channels: list[str] = Field(default_factory=lambda: [EMAIL], min_length=1)
    """`email`, or apprise URLs: wecombot://, dingtalk://, feishu://, lark://, slack://, msteams://, json://..."""
    digest: bool = True
    """Ordinary case news once a day in one message; escalations and approval requests always at once."""


class PeopleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    people: list[Person] = Field(min_length=1)


def _channel_problem(url: str) -> str | None:
    if url == EMAIL:
        return None
    if apprise.Apprise().add(url):
        return None
    scheme = url.partition("://")[0]
    hint = difflib.get_close_matches(scheme, sorted(_schemes()), n=1)
    return (f"'{url}' is not a channel apprise can send to"
            + (f" (did you mean '{hint[0]}://'?)" if hint and hint[0] != scheme else ""))


@functools.cache
def _schemes() -> set[str]:
    schemes: set[str] = set()
    for plugin in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            value = plugin.get(key) or ()
            schemes.update([value] if isinstance(value, str) else value)
    return schemes


def _checks(data: dict[str, Any]) -> Iterator[tuple[Path_, str, bool]]:
    people = data.get("people")
    people = people if isinstance(people, list) else []
    emails = {str(p.get("email", "")).lower(): i for i, p in enumerate(people) if isinstance(p, dict)}
    seen: dict[str, int] = {}
    for index, person in enumerate(people):
        if not isinstance(person, dict):
            continue
        email = str(person.get("email", "")).lower()
        if email in seen:
            yield ("people", index, "email"), f"{email} is listed twice (also people[{seen[email]}])", False
        seen.setdefault(email, index)
        manager = person.get("manager")
        if isinstance(manager, str) and manager.lower() not in emails:
            yield ("people", index, "manager"), f"manager {manager} is not in this directory", False
        channels = person.get("channels")
        for c, url in enumerate(channels if isinstance(channels, list) else []):
            problem = _channel_problem(str(url))
            if problem:
                yield ("people", index, "channels", c), problem, False


@dataclass(frozen=True)
class Directory:
    people: dict[str, Person]

    def person(self, email: str, *, language: Language = Language.ZH_CN) -> Person:
        """The listed person, or someone the policy names but the directory does not: email only, in
        the default language, so nobody a case concerns goes unnotified."""
        listed = self.people.get(email.lower())
        if listed is not None:
            return listed
        # Not validated: an API token may name anyone ("admin@localhost"); nothing here is sent without
        # the channel checks of delivery.
        return Person.model_construct(email=email, name=email.partition("@")[0], roles=[Role.OWNER], language=language,
                                      manager=None, channels=[EMAIL], digest=True)

    def with_role(self, role: Role) -> list[Person]:
        return [p for p in self.people.values() if role in p.roles]


def parse_people(text: str, label: str) -> Directory:
    document = parse_document(text, label, PeopleFile, _checks, "a people file is a mapping with a list under people")
    return Directory({p.email.lower(): p for p in document.people})


def load_people(path: Path | None) -> Directory:
    """The directory at `path`; none (no file yet) is an empty directory."""
    if path is None or not path.exists():
        return Directory({})
    return parse_people(read_document(path), str(path))


def emails(people: Iterable[Person]) -> list[str]:
    return [p.email for p in people]
