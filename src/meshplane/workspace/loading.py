"""Loading a mesh folder: every problem collected and located, and the resolved graph when it is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshplane.graph import MeshGraph, resolve
from meshplane.spec import LoadResult, MeshSpec, load_mesh
from meshplane.types import Problem, Severity

__all__ = ["CheckReport", "check_mesh"]


class CheckReport:
    """Everything ``meshplane check`` found, errors and warnings."""

    def __init__(
        self, root: Path, problems: list[Problem], graph: MeshGraph | None, spec: MeshSpec | None = None
    ) -> None:
        self.root = root
        self.problems = problems
        self.graph = graph
        self.spec = spec

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
    from meshplane.workspace.repositories import platform_overlay

    loaded: LoadResult = load_mesh(root, platform_overlay(root))
    problems = list(loaded.problems)
    graph = None
    if loaded.spec is not None:
        graph, resolution = resolve(loaded.spec)
        problems.extend(resolution)
    problems.sort(key=lambda p: (p.location, p.message))
    return CheckReport(root, problems, graph, loaded.spec)
