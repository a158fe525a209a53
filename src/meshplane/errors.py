"""The one exception tree of meshplane.

Every error a user can cause derives from :class:`MeshError`; the CLI's single error boundary prints
``MeshError`` instances as located one-line messages and only shows tracebacks with ``--debug``.

    MeshError
    ├── UsageError           the command was called wrongly (exit 2)
    │   └── NotFound             the named product, port, run, request or user does not exist (HTTP 404)
    ├── SpecError            a mesh file is wrong (carries one or more located Problems)
    ├── ResolutionError      references between products do not resolve (also located)
    ├── BuildError           a build could not run or publish
    │   └── ContractViolation    staged data broke its port's contract; nothing was published
    ├── PolicyViolation      a governance policy blocked the action
    ├── AccessDenied         the principal may not read or do this
    ├── QueryRejected        the gateway refused a query before running it
    │   └── QuerySyntaxError     the SQL does not parse (line and column; the message never repeats the text)
    ├── StorageError         a table or the metadata database is unusable
    ├── CatalogError         the catalog store failed
    │   └── CatalogUnavailable   the catalog database cannot be reached, opened or written
    ├── EngineUnavailable    an optional engine is not installed (message carries the install hint)
    ├── LimitExceeded        a query or transform was stopped at its memory, time or CPU limit
    └── ConcurrentBuild      another build holds the product's lock
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from meshplane.types import Problem

__all__ = [
    "AccessDenied",
    "BuildError",
    "CatalogError",
    "CatalogUnavailable",
    "ConcurrentBuild",
    "ContractViolation",
    "EngineUnavailable",
    "LimitExceeded",
    "MeshError",
    "NotFound",
    "PolicyViolation",
    "QueryRejected",
    "QuerySyntaxError",
    "ResolutionError",
    "SpecError",
    "StorageError",
    "UsageError",
]


class MeshError(Exception):
    """Base of every error meshplane raises on purpose."""

    exit_code = 1


class UsageError(MeshError):
    """The command was called wrongly (unknown selector, missing argument)."""

    exit_code = 2


class NotFound(UsageError):
    """A named thing (product, port, run, request, user) does not exist; the REST API answers 404."""


class SpecError(MeshError):
    """One or more problems in the files of a mesh, each with a file:line:column location."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class ResolutionError(SpecError):
    """Input ports that do not resolve, version mismatches, cycles."""


class BuildError(MeshError):
    """A build could not run or could not publish."""


class ContractViolation(BuildError):
    """Staged data broke its contract; the previous snapshot stays visible."""

    def __init__(self, message: str, failures: Sequence[str] = ()) -> None:
        self.failures = tuple(failures)
        super().__init__(message)


class PolicyViolation(MeshError):
    """A governance policy at error severity blocked the action."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


class AccessDenied(MeshError):
    """The principal may not read this port or perform this action."""


class QueryRejected(MeshError):
    """The query gateway refused the SQL before running it."""


class QuerySyntaxError(QueryRejected):
    """The SQL does not parse at ``line``, ``column`` (1-based). The message names the position and what was
    expected but never repeats the query text; a surface holding the text (the CLI) shows it with a caret."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class StorageError(MeshError):
    """A table or the metadata database cannot be used."""


class CatalogError(MeshError):
    """The catalog store failed."""


class CatalogUnavailable(CatalogError):
    """The catalog database cannot be reached, opened or written (a fault of the setup, not of meshplane)."""


class EngineUnavailable(MeshError):
    """An optional engine is not installed; the message says what to install."""


class LimitExceeded(MeshError):
    """Work was stopped at a process-level limit; ``limit`` is memory, time, cpu or process."""

    def __init__(self, message: str, *, limit: str = "process") -> None:
        super().__init__(message)
        self.limit = limit

    def __reduce__(self) -> tuple[object, ...]:
        return (_limit_exceeded, (str(self), self.limit))


def _limit_exceeded(message: str, limit: str) -> LimitExceeded:
    return LimitExceeded(message, limit=limit)


class ConcurrentBuild(BuildError):
    """Another process is building the same product."""
