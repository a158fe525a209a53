"""The media example's listening events as an append product: a year of daily listening files, one new day a build.

Only the new day is computed, its checks see the right rows (row rules on the day, uniqueness and row count on
the table with it), a failing day publishes nothing, and a build killed with SIGKILL leaves the table as it was.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from meshplane.builds import Status
from meshplane.builds.execute import ProductOutcome
from meshplane.types import Address
from meshplane.workspace import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
PRODUCT = "podcasts.listening_events"
PORT = Address.parse("podcasts.listening_events.listening_events")
LAST = "2026-10-31"
SCALE = "0.02"  # 20,000 events over the year, about 55 a day


def _generate(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "generate.py", "--scale", SCALE, *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """The example with its year of listens up to the day before the last, built once (the whole table)."""
    root = tmp_path / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    _generate(root, "--through", "2026-10-30")
    outcome = _build(root)
    assert outcome.status is Status.SUCCESS, outcome.error
    assert outcome.ports[0].run == "full"
    return root


def _build(root: Path) -> ProductOutcome:
    with Mesh.open(root) as mesh:
        [outcome] = mesh.build([PRODUCT]).outcomes
    return outcome


def _table(root: Path) -> tuple[int, int, tuple[str, ...]]:
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(PORT)
        assert snapshot is not None
        return snapshot.snapshot_id, snapshot.row_count, tuple(str(f) for f in snapshot.data_files)


def _day_file(root: Path, day: str = LAST) -> Path:
    return root / "data" / "podcasts" / "listens" / f"listens_{day}.parquet"


def _distinct_events(path: Path) -> int:
    return int(duckdb.sql(f"SELECT count(DISTINCT event_id) FROM read_parquet('{path}')").fetchone()[0])  # type: ignore[index]


def test_a_new_day_appends_only_that_day(media: Path) -> None:
    _, before_rows, before_files = _table(media)
    _generate(media, "--day", LAST)
    with Mesh.open(media) as mesh:
        [item] = mesh.plan([PRODUCT]).items
    assert item.runs["listening_events"].kind == "append"
    assert item.runs["listening_events"].why == "rows after the last published started_at"

    outcome = _build(media)
    assert outcome.status is Status.SUCCESS, outcome.error
    day = _distinct_events(_day_file(media))
    # The transform computed the new day's sessions only (re-deliveries removed), and they were appended.
    assert [(p.rows, p.run) for p in outcome.ports] == [(day, "append")]
    # The run profiles the rows it added (profiling the year would cost every day a scan of it).
    profile = outcome.ports[0].profile
    assert profile is not None and profile["rows"] == day
    _, rows, files = _table(media)
    assert rows == before_rows + day
    assert set(before_files) < set(files)
    with Mesh.open(media) as mesh:
        events = mesh.read(str(PORT))  # noqa: F841 - DuckDB reads the Arrow table by its name
    days = duckdb.sql("SELECT CAST(started_at AS DATE) AS d, count(*) AS n FROM events GROUP BY d").fetchall()
    assert len(days) == 365
    assert max(days)[0].isoformat() == LAST


def test_the_published_watermark_is_read_from_footers_not_from_the_rows(
    media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the published started_at column for its maximum scanned the whole table on every daily build (a
    # cost that grew with every append): the files' footer statistics hold it.
    from meshplane.builds import increments
    from meshplane.engines.duckdb import DuckDBEngine

    read: list[set[str]] = []
    query = DuckDBEngine.query

    def spy(self: DuckDBEngine, sql: str, relations: Any) -> Any:
        read.append(set(relations))
        return query(self, sql, relations)

    monkeypatch.setattr(DuckDBEngine, "query", spy)
    _generate(media, "--day", LAST)
    outcome = _build(media)
    assert outcome.status is Status.SUCCESS, outcome.error
    assert read and not any(increments._PUBLISHED in names for names in read)  # the bounds query never ran
    # and the bound was right: only the new day was computed and appended
    assert outcome.ports[0].rows == _distinct_events(_day_file(media))


def test_the_increments_checks_see_the_new_day_and_the_whole_table(media: Path) -> None:
    _, before_rows, _ = _table(media)
    _generate(media, "--day", LAST)
    outcome = _build(media)
    assert outcome.status is Status.SUCCESS, outcome.error
    checks = {(c.metric, c.column): c for c in outcome.ports[0].checks}
    # rowCount >= 1000 is about the table: observed on the published rows plus the new day.
    assert checks["rowCount", None].observed == before_rows + outcome.ports[0].rows
    assert checks["watermark", "started_at"].passed
    assert checks["duplicateValues", "event_id"].passed
    assert all(c.passed for c in outcome.ports[0].checks), [c for c in outcome.ports[0].checks if not c.passed]


def test_the_increment_reads_every_row_after_the_watermark_whichever_file_holds_it(media: Path) -> None:
    """The run opens only the source files whose statistics can hold rows after the watermark, so a late event
    re-delivered in a file named for an old day is still appended; one at the watermark itself is not."""
    _, before_rows, files = _table(media)
    watermark = duckdb.sql(f"SELECT max(started_at) FROM read_parquet({[str(f) for f in files]})").fetchone()[0]  # type: ignore[index]
    _generate(media, "--day", LAST)
    old = pq.read_table(_day_file(media, "2026-01-15"))
    late = [
        {**old.slice(0, 1).to_pylist()[0], "event_id": "LATE-AT", "started_at_utc": watermark},
        {
            **old.slice(1, 1).to_pylist()[0],
            "event_id": "LATE-AFTER",
            "started_at_utc": watermark + timedelta(seconds=1),
        },
    ]
    pq.write_table(type(old).from_pylist(late, schema=old.schema), _day_file(media, "2026-01-15-redelivered"))

    outcome = _build(media)
    assert outcome.status is Status.SUCCESS, outcome.error
    sources = str(_day_file(media, "*"))
    expected = duckdb.sql(
        f"SELECT count(DISTINCT event_id) FROM read_parquet('{sources}') WHERE started_at_utc > ?", params=[watermark]
    ).fetchone()[0]  # type: ignore[index]
    assert outcome.ports[0].run == "append"
    assert outcome.ports[0].rows == expected == _distinct_events(_day_file(media)) + 1
    with Mesh.open(media) as mesh:
        ids = set(mesh.read(str(PORT)).column("event_id").to_pylist())
    assert "LATE-AFTER" in ids and "LATE-AT" not in ids
    assert _table(media)[1] == before_rows + expected


def test_a_bad_day_publishes_nothing_and_the_checks_name_its_rows(media: Path) -> None:
    before = _table(media)
    _generate(media, "--day", LAST)
    day = pq.read_table(_day_file(media))
    # The hosting platform re-sends a session published yesterday with a new start time, and an unknown country.
    with Mesh.open(media) as mesh:
        published = mesh.read(str(PORT)).slice(0, 1).column("event_id")[0].as_py()
    bad = day.to_pylist()
    bad[0] = {**bad[0], "event_id": published}
    bad[1] = {**bad[1], "geo_country": "X1"}
    pq.write_table(type(day).from_pylist(bad, schema=day.schema), _day_file(media))

    failed = _build(media)
    assert failed.status is Status.FAILED
    checks = {(c.metric, c.column): c for c in failed.ports[0].checks}
    # Uniqueness counts the duplicate the new day makes with a published row...
    assert not checks["duplicateValues", "event_id"].passed
    assert checks["duplicateValues", "event_id"].observed == 1
    # ...and the row rule sees the one bad row of the new day (its sample is that row).
    country = checks["invalidValues", "country_code"]
    assert not country.passed and country.observed == 1
    assert [row["country_code"] for row in country.sample] == ["X1"]
    assert _table(media) == before


@pytest.mark.slow
@pytest.mark.parametrize("point", ["staged", "before_commit"])
def test_a_killed_daily_build_leaves_the_table_as_it_was(media: Path, point: str) -> None:
    from .test_crash import assert_consistent, start

    before = _table(media)
    _generate(media, "--day", LAST)
    process = start(media, point, PRODUCT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == -9, stderr
    assert_consistent(media)
    assert _table(media) == before
    recovered = _build(media)
    assert recovered.status is Status.SUCCESS, recovered.error
    assert [(p.rows, p.run) for p in recovered.ports] == [(_distinct_events(_day_file(media)), "append")]
