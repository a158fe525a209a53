"""The sample a large port's profile measures its values on (:class:`~meshplane.contracts.profile.ProfileSample`).

A port of more than :data:`~meshplane.contracts.profile.SAMPLE_ROWS` rows in local Parquet files (what a build
stages) is sampled in :data:`~meshplane.contracts.profile.SAMPLE_BLOCKS` blocks of consecutive rows spread evenly
through its files, read by row number: DuckDB skips the row groups a block does not touch, so the sample costs a
few row groups' reading where a full profile hashed every value of every column (most of a 6 M-row build's
checks). A block of consecutive rows is a cluster: a column sorted the way the rows are shows a few clusters of
its range, which is why the profile says it was sampled and how big the sample was. Other engines, and ports
in other files, are profiled on every row.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from meshplane.contracts.profile import SAMPLE_BLOCKS, SAMPLE_ROWS
from meshplane.engines.base import Engine, FileRelation, Relation
from meshplane.storage.footers import footer

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["profile_sample", "sample_blocks"]

_ROW_NUMBER = "file_row_number"  # DuckDB's read_parquet option and column: each row's number in its file


def sample_blocks(
    counts: Sequence[int], rows: int = SAMPLE_ROWS, blocks: int = SAMPLE_BLOCKS
) -> list[tuple[int, int, int]]:
    """(file index, first row, last row) of ``blocks`` blocks of about ``rows / blocks`` consecutive rows, one in
    the middle of each equal stretch of the files' rows taken end to end (``counts``: each file's rows). A block
    that would cross a file's end stops there. Nothing when the files hold ``rows`` rows or fewer."""
    total = sum(counts)
    if total <= rows or blocks < 1:
        return []
    size = math.ceil(rows / blocks)
    stretch = total / blocks
    found: list[tuple[int, int, int]] = []
    for k in range(blocks):
        start = int(k * stretch + (stretch - size) / 2)
        offset = 0
        for index, count in enumerate(counts):
            if start < offset + count:
                first = start - offset
                found.append((index, first, min(first + size, count) - 1))
                break
            offset += count
    return found


def _by_row_group(
    blocks: Sequence[tuple[int, int, int]], footers: Sequence[Any]
) -> list[tuple[int, list[tuple[int, int]]]]:
    """The blocks (in file order) as (file index, [(first, last), ...]) groups of the blocks that start in the row
    group where the previous one ends."""
    found: list[tuple[int, list[tuple[int, int]]]] = []
    starts: dict[int, list[int]] = {}
    for index, first, last in blocks:
        if index not in starts:
            metadata = footers[index]
            sizes = (metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))
            starts[index] = list(itertools.accumulate(sizes, initial=0))
        group = bisect.bisect_right(starts[index], first)
        if found and found[-1][0] == index and bisect.bisect_right(starts[index], found[-1][1][-1][1]) == group:
            found[-1][1].append((first, last))
        else:
            found.append((index, [(first, last)]))
    return found


def profile_sample(engine: Engine, relation: Relation, columns: Sequence[str]) -> pa.Table | None:
    """The ``columns`` of the sampled rows of ``relation``, or None when it is profiled on every row."""
    if engine.capabilities.name != "duckdb" or not columns:
        return None  # reading by row number is DuckDB's; other engines profile every row
    if not isinstance(relation, FileRelation) or relation.format != "parquet" or relation.options:
        return None
    paths = [p for p in relation.paths if isinstance(p, Path)]
    if len(paths) != len(relation.paths):
        return None  # objects in a store: their footers are not read here
    footers: list[Any] = []
    for path in paths:
        metadata = footer(path)
        if metadata is None:
            return None
        footers.append(metadata)
    blocks = sample_blocks([metadata.num_rows for metadata in footers])
    if not blocks:
        return None
    relations: dict[str, Relation] = {}
    selects: list[exp.Select] = []
    # One SELECT per row group the blocks start in, bounded by one BETWEEN on the row number: DuckDB skips the row
    # groups outside such a range, not those outside an OR of several (lineitem at SF1: 0.05 s for its four blocks
    # instead of 0.09 s); blocks sharing a row group share its SELECT, which reads that group once.
    for index, ranges in _by_row_group(blocks, footers):
        name = f"__meshplane_sample_{index}"
        relations[name] = FileRelation(paths=(paths[index],), options={_ROW_NUMBER: True})
        number = exp.column(_ROW_NUMBER, quoted=True)
        bounded = exp.Between(this=number.copy(), low=exp.convert(ranges[0][0]), high=exp.convert(ranges[-1][1]))
        exact = [exp.Between(this=number.copy(), low=exp.convert(first), high=exp.convert(last))
                 for first, last in ranges]  # fmt: skip
        selects.append(
            exp.select(*(exp.column(c, quoted=True) for c in columns))
            .from_(exp.to_identifier(name, quoted=True))
            .where(bounded if len(ranges) == 1 else exp.and_(bounded, exp.or_(*exact)))
        )
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    try:
        return engine.query(query.sql(dialect="duckdb"), relations)
    except Exception:  # a file with a column of that name, say: the profile measures every row instead
        return None
