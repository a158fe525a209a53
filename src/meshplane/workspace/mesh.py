"""The Mesh facade: opens a mesh folder and offers every use case, delegating to the layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshplane.errors import SpecError, UsageError
from meshplane.graph import MeshGraph, SelectorError, resolve, select
from meshplane.spec import LoadResult, MeshSpec, load_mesh
from meshplane.types import Address, Problem, Severity

__all__ = ["CheckReport", "Mesh", "check_mesh"]


class CheckReport:
    """Everything ``meshplane check`` found, errors and warnings."""

    def __init__(self, root: Path, problems: list[Problem], graph: MeshGraph | None) -> None:
        self.root = root
        self.problems = problems
        self.graph = graph

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "mesh": str(self.root),
            "ok": self.ok,
            "problems": [
                {
                    "path": str(p.location.path.relative_to(self.root))
                    if p.location.path.is_relative_to(self.root)
                    else str(p.location.path),
                    "line": p.location.line,
                    "column": p.location.column,
                    "severity": p.severity.value,
                    "code": p.code,
                    "message": p.message,
                    "fix": p.hint,
                }
                for p in self.problems
            ],
        }


def check_mesh(path: str | Path) -> CheckReport:
    """Load, validate and resolve; collects every problem instead of raising."""
    root = Path(path).resolve()
    loaded: LoadResult = load_mesh(root)
    problems = list(loaded.problems)
    graph = None
    if loaded.spec is not None:
        graph, resolution = resolve(loaded.spec)
        problems.extend(resolution)
    problems.sort(key=lambda p: (p.location, p.message))
    return CheckReport(root, problems, graph)


class Mesh:
    """An opened, valid mesh. Use :func:`meshplane.open_mesh` to get one."""

    def __init__(self, graph: MeshGraph) -> None:
        self.graph = graph

    @classmethod
    def open(cls, path: str | Path) -> Mesh:
        report = check_mesh(path)
        if not report.ok or report.graph is None:
            raise SpecError(report.errors)
        return cls(report.graph)

    @property
    def spec(self) -> MeshSpec:
        return self.graph.spec

    @property
    def root(self) -> Path:
        return self.spec.root

    @property
    def name(self) -> str:
        return self.spec.config.name

    def select(self, selectors: list[str] | None) -> list[Address]:
        try:
            return select(self.graph, selectors)
        except SelectorError as error:
            raise UsageError(str(error)) from None
