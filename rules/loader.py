"""Reading a policy file into a Policy, or into a list of problems that each name file, line and column.
The same reading serves every YAML file compliance officers keep under policies/ (people.yaml too).

The YAML is composed once into nodes (which know where they stand) and once into plain data; the
structure is checked by the pydantic models, the meaning (metrics, units, scopes) by rules/checks.py,
and every problem is placed at the key or value it is about. Nothing here may raise anything but
PolicyInvalid: a compliance officer should never see a traceback.

Anchors and aliases are refused before anything is composed: nine aliases of nine aliases of ... make a
417-byte "billion laughs" document that took 10 s and 3.6 GB to expand (one level more, 36 GB).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from core.problems import FileProblem
from rules.checks import check_meaning
from rules.policy import Policy
from rules.vocabulary import OPERATORS

Path_ = tuple[str | int, ...]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: same marks, faster


PolicyProblem = FileProblem
"""Printed as `policies/x.yaml:23:7: rules[2].when.dwel_days: unknown metric 'dwel_days' (...)`."""


class PolicyInvalid(Exception):
    def __init__(self, problems: list[PolicyProblem]):
        super().__init__(f"{len(problems)} problem(s) in the policy")
        self.problems = problems


def render_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Positions:
    """Where each key and value of the document stands (1-based line and column)."""

    def __init__(self) -> None:
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.values: dict[Path_, tuple[int, int]] = {}
        self.duplicates: list[tuple[Path_, str]] = []

    def walk(self, node: yaml.Node, path: Path_ = ()) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*path, key)
                if key in seen:
                    self.duplicates.append((child, f"duplicate key '{key}' (a later one would silently win)"))
                seen.add(key)
                self.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))

    def of(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of the nearest ancestor the document has (a missing key)."""
        probe = tuple(path)
        while probe:
            found = (self.keys if key else self.values).get(probe) or self.values.get(probe)
            if found:
                return found
            probe = probe[:-1]
        return self.values.get((), (1, 1))


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the container or model underneath shows."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0]
        else:
            return annotation


def _keys_at(loc: Path_, root: type[BaseModel]) -> list[str]:
    """The keys allowed in the mapping that holds the last element of `loc`."""
    annotation: Any = root
    for part in loc[:-1]:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[part].annotation
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sorted(f.alias or name for name, f in annotation.model_fields.items())
    return []


def _is_condition_path(path: Path_) -> bool:
    """rules[i].when.<metric>.<op> or rules[i].any[j].<metric>.<op>."""
    return (len(path) >= 5 and path[-3] == "when") or (len(path) >= 6 and path[-4] == "any")


def _pydantic_problems(error: ValidationError, root: type[BaseModel]) -> Iterable[tuple[Path_, str, bool]]:
    for item in error.errors():
        loc: Path_ = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = item["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            vocabulary = OPERATORS if _is_condition_path(loc) else _keys_at(loc, root)
            what = "operator" if _is_condition_path(loc) else "key"
            hint = difflib.get_close_matches(name, vocabulary, n=1)
            yield loc, f"unknown {what} '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""), True
        elif kind == "missing":
            yield loc, "is required", True
        else:
            message = item["msg"].removeprefix("Value error, ")
            given = item.get("input")
            if "valid email address" in message:
                message = f"'{given}' is not an email address"
            if isinstance(given, str | int | float) and not isinstance(given, bool) and repr(given) not in message:
                message = f"{message} (got {given!r})"
            yield loc, message, False


_MOST_ALIAS_PROBLEMS = 20
"""An alias bomb has hundreds of aliases; the first few say what to fix."""


def _alias_problems(text: str, label: str) -> list[PolicyProblem]:
    """Every anchor (&name) and alias (*name), read from the event stream, which never expands them."""
    problems: list[PolicyProblem] = []
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            what = f"alias '*{event.anchor}'"
        elif anchor := getattr(event, "anchor", None):
            what = f"anchor '&{anchor}'"
        else:
            continue
        mark = event.start_mark
        problems.append(PolicyProblem(label, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, "",
                                      f"YAML {what}: anchors and aliases are not allowed (write the value out in full)"))
        if len(problems) == _MOST_ALIAS_PROBLEMS:
            break
    return problems


Model = typing.TypeVar("Model", bound=BaseModel)
Checks = typing.Callable[[dict[str, Any]], Iterable[tuple[Path_, str, bool]]]


def parse_document(text: str, label: str, model: type[Model], checks: Checks, shape: str) -> Model:
    """Parse YAML into `model`; structure problems from pydantic and meaning problems from `checks`, each
    placed at its line and column. `shape` says what the document should look like when it is not a mapping."""
    try:
        refused = _alias_problems(text, label)
        if refused:
            raise PolicyInvalid(refused)
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PolicyInvalid([PolicyProblem(label, line, column, "", f"YAML syntax: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyInvalid([PolicyProblem(label, 1, 1, "", f"YAML syntax: {exc}")]) from None
    if not isinstance(data, dict) or node is None:
        raise PolicyInvalid([PolicyProblem(label, 1, 1, "", shape)])
    positions = _Positions()
    positions.walk(node)
    found: list[tuple[Path_, str, bool]] = [(path, message, True) for path, message in positions.duplicates]
    document: Model | None = None
    try:
        document = model.model_validate(data)
    except ValidationError as exc:
        found.extend(_pydantic_problems(exc, model))
    found.extend(checks(data))
    problems = sorted({
        PolicyProblem(label, *positions.of(path, key=is_key), render_path(path), message)
        for path, message, is_key in found
    })
    if problems or document is None:
        raise PolicyInvalid(problems)
    return document


def parse_policy(text: str, label: str, *, known: dict[str, set[str]] | None = None) -> Policy:
    """Parse and check a policy; `known` holds the categories and sites of the data, when there is data."""
    return parse_document(text, label, Policy, lambda data: check_meaning(data, known or {}),
                          "a policy is a mapping with policy, version, owners and rules")


def read_document(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyInvalid([PolicyProblem(str(path), 1, 1, "", f"cannot read the file: {exc}")]) from None


def load_policy(path: Path, *, known: dict[str, set[str]] | None = None) -> tuple[Policy, str]:
    """The checked policy at `path` and its text (kept verbatim when a version is activated)."""
    text = read_document(path)
    return parse_policy(text, str(path), known=known), text
