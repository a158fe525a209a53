"""A check's aggregate scan over Parquet files, its additive columns remembered file by file.

Published data files are immutable (a rewrite, by retention or compaction, writes new paths), and a count of the
rows matching a row predicate over a union of files is the sum of its counts over each file
(:func:`~meshplane.contracts.compile.additive` decides which columns are such counts). So a daily append's
whole-table rules (a ``sql`` rule counting bad rows, ``rowCount``) need not read a year of files again: each
file's counts are remembered once measured, keyed by the file's identity (path, size, modification time) and the
column's SQL, and only the files not yet measured are scanned. ``COUNT(*)`` comes from the footers.

A scan over several files tells each file's count only when the sum is 0 (counts are never negative) or there
is one file; builds check whole tables (a full refresh) and new files, so that is the usual case. Anything else
(another format, reader options, remote files, files whose schemas differ, so that a file read alone could bind
its columns differently) is scanned whole, as without this module.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from meshplane.contracts.compile import CompiledPlan
from meshplane.engines.base import FileRelation
from meshplane.storage.footers import footer, identity

__all__ = ["aggregate", "forget"]

_REMEMBERED = 1 << 16
_COUNT_STAR = "COUNT(*)"

_lock = threading.Lock()
_counts: OrderedDict[tuple[tuple[str, int, int], str, str], int] = OrderedDict()
_schemas: OrderedDict[tuple[str, int, int], Any] = OrderedDict()  # a file's footer as an Arrow schema


def forget() -> None:
    """Drop every remembered count (tests)."""
    with _lock:
        _counts.clear()
        _schemas.clear()


def aggregate(
    compiled: CompiledPlan, relation: FileRelation, scan: Callable[[FileRelation], dict[str, Any]]
) -> dict[str, Any]:
    """``compiled``'s aggregate row over ``relation``; ``scan`` runs the aggregate SQL with the checked relation
    bound to the files given. With every column additive only files not measured yet are scanned."""
    files = _identities(relation)
    if files is None:
        return scan(relation)
    if not compiled.only_additive:
        row = scan(relation)
        _remember(compiled, files, row)
        return row
    totals = dict.fromkeys((alias for alias, _ in compiled.additive), 0)
    unknown: list[tuple[str, int, int]] = []
    for file in files:
        found = [_known(compiled, file, sql) for _, sql in compiled.additive]
        if any(value is None for value in found):
            unknown.append(file)
            continue
        for (alias, _), value in zip(compiled.additive, found, strict=True):
            totals[alias] += value or 0
    if unknown:
        row = scan(FileRelation(paths=tuple(path for path, _, _ in unknown)))
        _remember(compiled, unknown, row)
        for alias in totals:
            if row[alias] is None:  # a count is never NULL; should an engine say so, trust the whole scan
                return scan(relation)
            totals[alias] += int(row[alias])
    return totals


def _identities(relation: FileRelation) -> list[tuple[str, int, int]] | None:
    """The relation's files' identities, when each can be scanned alone with the same meaning as in the union."""
    if relation.format != "parquet" or relation.options:
        return None
    files = [identity(path) for path in relation.paths]
    known = [file for file in files if file is not None]
    if len(known) < len(files):
        return None
    schemas = [_schema(file) for file in known]
    first = schemas[0]
    if first is None or not all(schema is not None and schema.equals(first) for schema in schemas[1:]):
        return None
    return known


def _schema(file: tuple[str, int, int]) -> Any | None:
    """The file's columns as the engine reads them (Arrow types: two writers annotate an INT32 differently)."""
    with _lock:
        found = _schemas.get(file)
    if found is None:
        metadata = footer(file[0])
        if metadata is None:
            return None
        found = metadata.schema.to_arrow_schema()
        with _lock:
            _schemas[file] = found
            while len(_schemas) > _REMEMBERED:
                _schemas.popitem(last=False)
    return found


def _known(compiled: CompiledPlan, file: tuple[str, int, int], sql: str) -> int | None:
    if sql == _COUNT_STAR:
        metadata = footer(file[0])
        return int(metadata.num_rows) if metadata is not None else None
    key = (file, compiled.dialect, sql)
    with _lock:
        found = _counts.get(key)
        if found is not None:
            _counts.move_to_end(key)
    return found


def _remember(compiled: CompiledPlan, files: list[tuple[str, int, int]], row: dict[str, Any]) -> None:
    """Each file's counts, where the row tells them: one file, or a sum of 0."""
    with _lock:
        for alias, sql in compiled.additive:
            value = row.get(alias)
            if sql == _COUNT_STAR or not isinstance(value, int) or (value != 0 and len(files) != 1):
                continue
            for file in files:
                _counts[(file, compiled.dialect, sql)] = value
                _counts.move_to_end((file, compiled.dialect, sql))
        while len(_counts) > _REMEMBERED:
            _counts.popitem(last=False)
