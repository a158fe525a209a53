"""A large port is profiled on a sample read in blocks spread through its files, and says so; a small one on
every row. The build's checks still see every row."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builds.meshes import write_mesh
from meshplane.contracts.profile import SAMPLE_ROWS
from meshplane.engines.base import FileRelation
from meshplane.engines.duckdb import DuckDBEngine
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners
from meshplane.workspace.sampling import _by_row_group, profile_sample, sample_blocks

PORT = "podcasts.listening_events.listening_events"
PRODUCT = "podcasts.listening_events"


def test_blocks_spread_evenly_and_stay_inside_their_files() -> None:
    assert sample_blocks([SAMPLE_ROWS]) == []  # not larger than the bound: every row is profiled
    blocks = sample_blocks([1_000_000], rows=100, blocks=4)
    assert [(f, last - first + 1) for f, first, last in blocks] == [(0, 25)] * 4
    starts = [first for _, first, _ in blocks]
    assert starts[0] > 0 and starts[-1] > 750_000  # one block in each quarter, reaching the end
    assert all(b - a == 250_000 for a, b in itertools.pairwise(starts))
    # several files: blocks land in the files their stretch covers and never run past a file's end
    spread = sample_blocks([10, 500, 30, 460], rows=100, blocks=4)
    counts = [10, 500, 30, 460]
    assert {f for f, _, _ in spread} == {1, 3}
    assert all(0 <= first <= last < counts[f] for f, first, last in spread)


def test_profile_sample_reads_only_the_blocks(tmp_path: Path) -> None:
    rows = 250_000
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": pa.array(range(rows), pa.int64()), "secret": ["x"] * rows}), path,
                   row_group_size=10_000)  # fmt: skip
    with DuckDBEngine(threads=1) as engine:
        sample = profile_sample(engine, FileRelation(paths=(path,)), ["n"])
        assert sample is not None and sample.column_names == ["n"]  # the columns asked for, nothing else
        values = sample.column("n").to_pylist()
        assert len(values) == SAMPLE_ROWS
        assert min(values) < rows // 4 and max(values) > 3 * rows // 4  # spread over the whole range
        small = tmp_path / "small.parquet"
        pq.write_table(pa.table({"n": pa.array(range(100), pa.int64())}), small)
        assert profile_sample(engine, FileRelation(paths=(small,)), ["n"]) is None


@pytest.mark.parametrize("group_rows", [10_000, 200_000])
def test_the_sample_holds_exactly_the_blocks_rows_however_the_row_groups_fall(tmp_path: Path, group_rows: int) -> None:
    """Blocks in row groups of their own are read one SELECT each (DuckDB then skips the other groups); blocks
    sharing a row group share one. Either way the sample is exactly the blocks' rows, each once."""
    rows = 250_000
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": pa.array(range(rows), pa.int64())}), path, row_group_size=group_rows)
    blocks = sample_blocks([rows])
    with DuckDBEngine(threads=1) as engine:
        sample = profile_sample(engine, FileRelation(paths=(path,)), ["n"])
    assert sample is not None
    expected = [n for _, first, last in blocks for n in range(first, last + 1)]
    assert sorted(sample.column("n").to_pylist()) == expected


class _Footer:
    """What the grouping reads of a Parquet footer: its row groups' sizes."""

    def __init__(self, groups: list[int]) -> None:
        self.num_row_groups = len(groups)
        self._groups = groups

    def row_group(self, index: int) -> SimpleNamespace:
        return SimpleNamespace(num_rows=self._groups[index])


def test_blocks_share_a_select_only_within_a_row_group() -> None:
    footers = [_Footer([100, 100, 100, 100]), _Footer([1000])]
    blocks = [(0, 10, 19), (0, 150, 159), (0, 170, 179), (0, 390, 399), (1, 0, 9), (1, 500, 509)]
    assert _by_row_group(blocks, footers) == [
        (0, [(10, 19)]),
        (0, [(150, 159), (170, 179)]),  # both in the second row group
        (0, [(390, 399)]),
        (1, [(0, 9), (500, 509)]),  # the other file's one row group
    ]


@pytest.mark.parametrize("rows", [SAMPLE_ROWS + 20_000])
def test_a_large_port_is_profiled_on_a_marked_sample(tmp_path: Path, rows: int) -> None:
    root = write_mesh(tmp_path / "mesh", rows=rows)
    with Mesh.open(root) as mesh:
        mesh.publish()
        agree_declared_as_owners(mesh.graph, mesh.access)
        assert mesh.build([f"+{PRODUCT}"]).ok
        profile = mesh.profile(PORT)
        assert profile is not None and profile.row_count == rows  # exact
        assert profile.sampled_rows is not None and 0 < profile.sampled_rows <= SAMPLE_ROWS
        for column in profile.columns:
            assert column["nulls"] == 0  # exact counts of every row
            if column["sensitive"]:
                assert "sampled" not in column
                continue
            assert column["sampled"] == profile.sampled_rows
            if column["histogram"]:  # the sample's counts, and sane: every sampled value in one bin
                assert sum(b[2] for b in column["histogram"]) == column["sampled"]
            assert column["distinct"] is None or column["distinct"] <= column["sampled"] * 1.1
