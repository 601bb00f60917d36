"""The rooms and which may import which (docs/architecture.md, "Layers"): a room imports only rooms on
lower layers, never one beside or above it, so each can be read, tested and changed from the bottom up.
Every import counts, inside functions and under TYPE_CHECKING too: a deferred import is still a dependency."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("audit", "inventory"),
    ("rules",),
    ("notifications",),
    ("governance",),
    ("activities", "reports"),
    ("workflows",),
    ("api",),
    ("stockwarden",),
]
"""Bottom first. `migrations/` (which registers every room's tables), `benchmarks/` and `tests/` stand outside."""

LEVEL = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def imported_rooms(path: Path) -> list[tuple[int, str]]:
    """(line, room) of every import of a Stockwarden room in the module at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in LEVEL]
    return found


def upward_imports(root: Path) -> list[str]:
    wrong = []
    for room, level in LEVEL.items():
        for path in sorted((root / room).rglob("*.py")):
            for line, other in imported_rooms(path):
                if other != room and LEVEL[other] >= level:
                    wrong.append(f"{path.relative_to(root)}:{line} imports {other} (layer {LEVEL[other]}) "
                                 f"from {room} (layer {level})")
    return wrong


def test_every_room_is_on_a_layer() -> None:
    rooms = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "migrations", "benchmarks"}
    assert rooms == set(LEVEL), "a new room needs its layer here and in docs/architecture.md"


def test_no_room_imports_one_beside_or_above_it() -> None:
    assert upward_imports(ROOT) == []


def test_an_import_upward_is_found(tmp_path: Path) -> None:
    """The check itself can fail: a deferred import of the API from inventory is reported with its line."""
    for room in LEVEL:
        (tmp_path / room).mkdir()
        (tmp_path / room / "__init__.py").write_text("")
    (tmp_path / "inventory" / "late.py").write_text("def f():\n    from api.app import create_app\n")
    (tmp_path / "audit" / "side.py").write_text("import inventory.models\n")
    assert upward_imports(tmp_path) == [
        "audit/side.py:1 imports inventory (layer 1) from audit (layer 1)",
        "inventory/late.py:2 imports api (layer 7) from inventory (layer 1)",
    ]


def test_the_layers_are_the_ones_written_down() -> None:
    """docs/architecture.md's numbered list under "## Layers" is this table, word for word."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    written = [tuple(re.findall(r"`(\w+)/`", line)) for line in section.splitlines() if re.match(r"\d+\. ", line)]
    assert written == LAYERS
