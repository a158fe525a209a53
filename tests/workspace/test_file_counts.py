"""Whole-table counts over Parquet files, remembered file by file: every verdict equals a scan of all the files,
and only files never measured (or changed) are scanned again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.contracts.compile import CompiledPlan, compile_sql
from meshplane.contracts.plan import compile_plan
from meshplane.engines.base import FileRelation
from meshplane.workspace import file_counts

RULE = "SELECT count(*) FROM {object} WHERE a < 0 OR a > b"


def _plan(rule: str = RULE) -> CompiledPlan:
    contract = OpenDataContractStandard.model_validate(
        {
            "apiVersion": "v3.1.0",
            "kind": "DataContract",
            "id": "t.events",
            "version": "1.0.0",
            "status": "active",
            "schema": [
                {
                    "name": "events",
                    "physicalType": "table",
                    "properties": [
                        {"name": "id", "logicalType": "string"},
                        {"name": "a", "logicalType": "integer"},
                        {"name": "b", "logicalType": "integer"},
                    ],
                    "quality": [
                        {"metric": "rowCount", "mustBeGreaterOrEqualTo": 1},
                        {"type": "sql", "query": rule, "mustBe": 0},
                    ],
                }
            ],
        }
    )
    plan = compile_plan(contract)
    table_rules = [c.id for c in plan.checks if c.metric in ("rowCount", "sql")]
    return compile_sql(plan, "checked", only=table_rules)


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.con = duckdb.connect()
        self.scanned: list[tuple[str, ...]] = []

    def write(self, name: str, rows: list[tuple[int, int]], *, a_type: str = "INTEGER") -> Path:
        path = self.root / f"{name}.parquet"
        values = ", ".join(f"('{name}{n}', {a}, {b})" for n, (a, b) in enumerate(rows))
        self.con.execute(
            f"COPY (SELECT id, CAST(a AS {a_type}) AS a, CAST(b AS INTEGER) AS b FROM (VALUES {values}) t(id, a, b)) "
            f"TO '{path}' (FORMAT parquet)"
        )
        return path

    def scan(self, compiled: CompiledPlan, files: FileRelation) -> dict[str, Any]:
        self.scanned.append(tuple(Path(p).name for p in files.paths))
        listed = ", ".join(f"'{p}'" for p in files.paths)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW checked AS SELECT * FROM read_parquet([{listed}])")
        row: dict[str, Any] = self.con.execute(compiled.aggregate_sql).to_arrow_table().to_pylist()[0]
        return row

    def counts(self, compiled: CompiledPlan, *paths: Path) -> dict[str, Any]:
        return file_counts.aggregate(compiled, FileRelation(paths=paths), lambda f: self.scan(compiled, f))

    def whole(self, compiled: CompiledPlan, *paths: Path) -> dict[str, Any]:
        """The answer of a scan of every file (what the counts must equal)."""
        row = self.scan(compiled, FileRelation(paths=paths))
        self.scanned.pop()
        return row


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    file_counts.forget()
    yield Files(tmp_path)
    file_counts.forget()


def test_published_files_are_measured_once_and_the_new_ones_scanned(files: Files) -> None:
    compiled = _plan()
    assert compiled.only_additive and [alias for alias, _ in compiled.additive] == ["row_count", "sql__sql"]
    # Boundaries: a == b and a == 0 are good rows, a == b + 1 and a == -1 bad ones.
    january = files.write("january", [(0, 0), (5, 5), (0, 9)])
    february = files.write("february", [(3, 4), (7, 7)])
    assert files.counts(compiled, january, february) == {"row_count": 5, "sql__sql": 0}
    assert files.scanned == [("january.parquet", "february.parquet")]
    day = files.write("day", [(6, 5), (-1, 3), (2, 2)])
    found = files.counts(compiled, january, february, day)
    assert found == files.whole(compiled, january, february, day) == {"row_count": 8, "sql__sql": 2}
    assert files.scanned[1:] == [("day.parquet",)]
    # A file measured alone is remembered with its count, bad rows included.
    assert files.counts(compiled, january, february, day) == {"row_count": 8, "sql__sql": 2}
    assert len(files.scanned) == 2


def test_a_sum_over_several_files_is_not_split_among_them(files: Files) -> None:
    compiled = _plan()
    one, two = files.write("one", [(9, 1)]), files.write("two", [(1, 1)])
    assert files.counts(compiled, one, two)["sql__sql"] == 1  # which file holds the bad row is unknown
    assert files.counts(compiled, two)["sql__sql"] == 0
    assert files.scanned == [("one.parquet", "two.parquet"), ("two.parquet",)]


def test_a_changed_rule_measures_every_file_again(files: Files) -> None:
    january = files.write("january", [(5, 5), (4, 5)])
    assert files.counts(_plan(), january)["sql__sql"] == 0
    stricter = _plan("SELECT count(*) FROM {object} WHERE a < 0 OR a >= b")
    assert files.counts(stricter, january)["sql__sql"] == 1
    assert files.scanned == [("january.parquet",), ("january.parquet",)]


def test_a_rewritten_or_compacted_file_is_measured_again(files: Files) -> None:
    compiled = _plan()
    january = files.write("january", [(1, 2)])
    assert files.counts(compiled, january) == {"row_count": 1, "sql__sql": 0}
    files.write("january", [(1, 2), (3, 2), (-4, 2)])  # the same path rewritten: another size
    assert files.counts(compiled, january) == {"row_count": 3, "sql__sql": 2}
    compacted = files.write("compacted", [(1, 2), (3, 2)])
    assert files.counts(compiled, compacted) == {"row_count": 2, "sql__sql": 1}
    assert files.scanned == [("january.parquet",), ("january.parquet",), ("compacted.parquet",)]


@pytest.mark.parametrize(
    "rule",
    [
        "SELECT count(*) FROM {object} WHERE a > (SELECT avg(a) FROM {object})",  # about the whole table
        "SELECT count(*) FROM {object} WHERE make_timestamp(a * 1000000) > now()",  # the clock
        "SELECT count(*) FROM {object} WHERE random() < a",  # chance
        "SELECT count(*) FROM {object} WHERE some_udf(a)",  # unknown function
        "SELECT count(DISTINCT a) FROM {object} WHERE a > b",  # not a row count
    ],
)
def test_a_rule_that_is_not_a_deterministic_row_count_is_never_remembered(files: Files, rule: str) -> None:
    compiled = _plan(rule)
    assert [alias for alias, _ in compiled.additive] == ["row_count"]
    january = files.write("january", [(1, 2)])
    files.con.execute("CREATE OR REPLACE MACRO some_udf(x) AS x > 0")
    for _ in range(2):
        files.counts(compiled, january)
    if compiled.queries:  # not foldable into the scan: its own query reads the whole table
        assert compiled.only_additive and not files.scanned  # the row count is the footers'
    else:  # folded: the scan that measures it reads every file, every time
        assert not compiled.only_additive and len(files.scanned) == 2


def test_files_read_with_different_types_are_scanned_together(files: Files) -> None:
    compiled = _plan()
    january = files.write("january", [(1, 2)])
    assert files.counts(compiled, january)["sql__sql"] == 0
    wide = files.write("wide", [(7, 2)], a_type="BIGINT")
    assert files.counts(compiled, january, wide) == {"row_count": 2, "sql__sql": 1}
    assert files.scanned[1:] == [("january.parquet", "wide.parquet")]
