"""A build child keeps a locked-down database for the next transform over exactly the same files, locked as a
fresh one: it reads only those files, writes only its own scratch folder, and a failed transform drops it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from meshplane.engines import build_databases
from meshplane.engines.duckdb import _stage_in_child
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import BuildError

LIMITS = SandboxLimits(memory_limit="1GB", threads=1, timeout_seconds=30.0, max_rows=0, preserve_order=False)


@pytest.fixture(autouse=True)
def _no_kept_databases() -> Iterator[None]:
    build_databases._close_kept()
    yield
    build_databases._close_kept()


@pytest.fixture
def csvs(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "a.csv").write_text("id,name\n1,one\n")
    (tmp_path / "secret.csv").write_text("id,name\n2,canary\n")
    return str(tmp_path / "a.csv"), str(tmp_path / "secret.csv")


def stage(sql: str, files: tuple[str, ...], out: Path, scratch: Path) -> Path:
    return Path(_stage_in_child(LIMITS, sql, files, {}, str(out), "snappy", None, str(scratch)))


def rows(path: Path) -> list[tuple[object, ...]]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY ALL").fetchall()


def test_transforms_over_the_same_files_share_one_database(csvs: tuple[str, str], tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    first = stage(f"SELECT id, name, 1 AS n FROM read_csv(['{csvs[0]}'])", (csvs[0],), tmp_path / "p1", scratch)
    second = stage(f"SELECT id, name, 2 AS n FROM read_csv(['{csvs[0]}'])", (csvs[0],), tmp_path / "p2", scratch)
    assert first.parent == tmp_path / "p1" and second.parent == tmp_path / "p2"
    assert rows(first) == [(1, "one", 1)] and rows(second) == [(1, "one", 2)]
    assert len(build_databases._KEPT) == 1
    # results were moved out: the database's scratch folder keeps nothing a later transform could read
    assert not [p for p in scratch.rglob("*") if p.is_file()]


def test_a_kept_database_reads_only_its_granted_files(csvs: tuple[str, str], tmp_path: Path) -> None:
    granted, secret = csvs
    scratch = tmp_path / "scratch"
    earlier = stage(f"SELECT * FROM read_csv(['{granted}'])", (granted,), tmp_path / "p1", scratch)
    for probe in (f"SELECT * FROM read_csv(['{secret}'])", f"SELECT * FROM read_parquet('{earlier}')",
                  f"SELECT * FROM glob('{scratch}/**')"):  # fmt: skip
        with pytest.raises((BuildError, duckdb.Error), match="disabled by configuration"):
            stage(probe, (granted,), tmp_path / "p2", scratch)
        assert not build_databases._KEPT  # a failed transform's database is closed, its folder removed
        assert not list(scratch.iterdir())
        stage(f"SELECT * FROM read_csv(['{granted}'])", (granted,), tmp_path / "p3", scratch)


def test_a_kept_database_stays_locked(csvs: tuple[str, str], tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    stage(f"SELECT * FROM read_csv(['{csvs[0]}'])", (csvs[0],), tmp_path / "p1", scratch)
    sql = "SELECT current_setting('lock_configuration') AS locked, current_setting('enable_external_access') AS ext"
    settings = stage(sql, (csvs[0],), tmp_path / "p2", scratch)
    assert rows(settings) == [(True, False)]
    assert len(build_databases._KEPT) == 1


def test_other_files_get_a_database_of_their_own(csvs: tuple[str, str], tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    for csv in csvs:
        stage(f"SELECT * FROM read_csv(['{csv}'])", (csv,), tmp_path / Path(csv).stem, scratch)
    assert len(build_databases._KEPT) == 2
    assert len(list(scratch.iterdir())) == 2


def test_a_kept_database_reads_a_rewritten_file_anew(csvs: tuple[str, str], tmp_path: Path) -> None:
    scratch, csv = tmp_path / "scratch", csvs[0]
    assert rows(stage(f"SELECT * FROM read_csv(['{csv}'])", (csv,), tmp_path / "p1", scratch)) == [(1, "one")]
    Path(csv).write_text("id,name\n3,new\n")  # a source updated between two builds of a long-lived process
    assert rows(stage(f"SELECT * FROM read_csv(['{csv}'])", (csv,), tmp_path / "p2", scratch)) == [(3, "new")]
    assert len(build_databases._KEPT) == 1
