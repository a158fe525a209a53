"""An append's uniqueness probe reads only the published files whose key bounds meet the new keys': every
duplicate of the table after the append is still counted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meshplane.builds import increments
from meshplane.engines.base import FileRelation, GovernedRelation


def _write(path: Path, ids: list[Any], kind: pa.DataType = pa.string(), **options: Any) -> Path:
    pq.write_table(pa.table({"event_id": pa.array(ids, kind), "n": list(range(len(ids)))}), path, **options)
    return path


def _duplicates(relation: Any) -> int:
    """COUNT(k) - COUNT(DISTINCT k) over the relation, as the uniqueness rule counts."""
    if isinstance(relation, FileRelation):
        listed = ", ".join(f"'{p}'" for p in relation.paths)
        select = f"SELECT * FROM read_parquet([{listed}])"
    else:
        assert isinstance(relation, GovernedRelation)
        select = relation.select
    found = duckdb.sql(f"SELECT count(event_id) - count(DISTINCT event_id) FROM ({select})").fetchone()
    assert found is not None
    return int(found[0])


def _keyed(published: list[Path], new: list[Path]) -> Any:
    current = SimpleNamespace(data_files=tuple(published))
    result = SimpleNamespace(files=tuple(new))
    return increments.keyed_relation(current, result, frozenset({"event_id"}))  # type: ignore[arg-type]


def _read(relation: Any) -> set[str]:
    paths = relation.paths if isinstance(relation, FileRelation) else relation.files
    return {Path(p).name for p in paths}


def test_keys_that_grow_with_time_read_no_published_file(tmp_path: Path) -> None:
    january = _write(tmp_path / "january.parquet", ["EV01", "EV02", "EV03"])
    february = _write(tmp_path / "february.parquet", ["EV04", "EV05"])
    day = _write(tmp_path / "day.parquet", ["EV06", "EV07", "EV07"])
    keyed = _keyed([january, february], [day])
    assert keyed == FileRelation(paths=(day,))
    assert _duplicates(keyed) == 1


@pytest.mark.parametrize(
    ("new_ids", "read", "duplicates"),
    [
        (["EV03", "EV09"], {"day.parquet", "january.parquet", "february.parquet"}, 1),  # bounds span both
        (["EV05"], {"day.parquet", "february.parquet"}, 1),  # at February's upper bound
        (["EV04"], {"day.parquet", "february.parquet"}, 1),  # at its lower bound
        (["EV035"], {"day.parquet"}, 0),  # between the files: EV03 < EV035 < EV04
        (["EV02"], {"day.parquet", "january.parquet"}, 1),  # inside January's bounds
    ],
)
def test_a_published_file_whose_bounds_meet_the_new_keys_is_read(
    tmp_path: Path, new_ids: list[str], read: set[str], duplicates: int
) -> None:
    january = _write(tmp_path / "january.parquet", ["EV01", "EV02", "EV03"])
    february = _write(tmp_path / "february.parquet", ["EV04", "EV05"])
    day = _write(tmp_path / "day.parquet", new_ids)
    keyed = _keyed([january, february], [day])
    assert _read(keyed) == read
    assert _duplicates(keyed) == duplicates


def test_strings_compare_as_parquet_sorts_them(tmp_path: Path) -> None:
    # Code point order is UTF-8 byte order: "é" (U+00E9) sorts after "z", so a new "é" key can meet "a".."é".
    published = _write(tmp_path / "published.parquet", ["a", "é"])
    day = _write(tmp_path / "day.parquet", ["é"])
    assert _duplicates(_keyed([published], [day])) == 1
    later = _write(tmp_path / "later.parquet", ["ê"])
    assert _keyed([published], [later]) == FileRelation(paths=(later,))


def test_integer_keys_and_a_file_of_null_keys(tmp_path: Path) -> None:
    nulls = _write(tmp_path / "nulls.parquet", [None, None], pa.int64())
    low = _write(tmp_path / "low.parquet", [1, 2], pa.int64())
    day = _write(tmp_path / "day.parquet", [2, 3], pa.int64())
    keyed = _keyed([nulls, low], [day])
    assert _read(keyed) == {"day.parquet", "low.parquet"}
    assert _duplicates(keyed) == 1


def test_files_without_statistics_are_read(tmp_path: Path) -> None:
    bare = _write(tmp_path / "bare.parquet", ["EV01"], write_statistics=False)
    day = _write(tmp_path / "day.parquet", ["EV01"])
    keyed = _keyed([bare], [day])
    assert _read(keyed) == {"day.parquet", "bare.parquet"}
    assert _duplicates(keyed) == 1
    # and new files without statistics make every published file a candidate
    unknown = _write(tmp_path / "unknown.parquet", ["EV09"], write_statistics=False)
    published = _write(tmp_path / "published.parquet", ["EV01"])
    assert _read(_keyed([published], [unknown])) == {"unknown.parquet", "published.parquet"}


def test_what_a_contract_says_of_its_keys_and_counts_is_asked_of_the_very_spec_a_build_uses() -> None:
    import dataclasses

    from meshplane.spec import load_mesh

    spec = load_mesh(Path(__file__).resolve().parents[2] / "examples" / "media").spec
    assert spec is not None
    [port] = [
        p for product in spec.products for p in product.output_ports if p.contract.id.endswith("listening_events")
    ]
    assert increments.key_columns(port) == frozenset({"event_id"})
    assert increments.summable_table_rules(port, "duckdb")
    # Another spec of the port whose contract has no uniqueness rule and a sql rule about the whole table.
    odcs = port.contract.odcs.model_copy(deep=True)
    [table] = odcs.schema_ or []
    for prop in table.properties or []:
        prop.unique = False
        prop.primaryKey = False
    table.quality = [q for q in table.quality or [] if q.type == "sql"]
    assert table.quality
    whole_table = "SELECT count(*) FROM {object} WHERE seconds_listened > (SELECT avg(seconds_listened) FROM {object})"
    table.quality[0].query = whole_table
    contract = dataclasses.replace(port.contract, model=SimpleNamespace(get=lambda: odcs))
    changed = dataclasses.replace(port, contract=contract)
    assert increments.key_columns(changed) == frozenset()
    assert not increments.summable_table_rules(changed, "duckdb")
    assert increments.key_columns(port) == frozenset({"event_id"})  # the first spec's answers stand


@pytest.mark.parametrize("truncated", ["published", "new"])
def test_long_keys_whose_statistics_a_writer_shortened_still_meet(tmp_path: Path, truncated: str) -> None:
    # DuckDB keeps 256 bytes of a string statistic (the maximum rounded up), pyarrow the whole value.
    key = "K" + "y" * 1000

    def duckdb_file(name: str, keys: list[str]) -> Path:
        path = tmp_path / f"{name}.parquet"
        values = ", ".join(f"('{k}', {n})" for n, k in enumerate(keys))
        duckdb.sql(f"COPY (SELECT * FROM (VALUES {values}) t(event_id, n)) TO '{path}' (FORMAT parquet)")
        return path

    if truncated == "published":
        published, day = duckdb_file("published", [key]), _write(tmp_path / "day.parquet", [key])
    else:
        published, day = _write(tmp_path / "published.parquet", [key]), duckdb_file("day", [key])
    keyed = _keyed([published], [day])
    assert _read(keyed) == {"published.parquet", "day.parquet"}
    assert _duplicates(keyed) == 1
