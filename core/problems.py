"""A problem at a place in a file a person wrote (a policy, a mapping profile): printed the way editors and
terminals make clickable, `policies/x.yaml:23:7: rules[2].when.dwel_days: unknown metric ...`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class FileProblem:
    """Sorted by file, line and column, so problems read top to bottom."""

    file: str
    line: int
    column: int
    path: str
    """Where in the document's structure (`rules[2].when`), or "" for the file as a whole."""
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}:"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"
