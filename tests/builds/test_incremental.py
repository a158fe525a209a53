"""Append ports: only the rows after the watermark are computed, checked (row rules on the increment, whole-table
rules on the table as it would be) and appended as a new snapshot; a failing increment publishes nothing; the plan
says which kind of run each append port gets and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshplane.builds import Status
from meshplane.builds.execute import ProductOutcome
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import write_events

PRODUCT = "podcasts.listening_events"
PORT = "podcasts.listening_events.listening_events"
FOLDER = "domains/podcasts/listening_events"

# Only the rows after the last published event_id (all of them on a full run, when start is NULL).
APPEND_SQL = """\
SELECT CAST(event_id AS VARCHAR) AS event_id, CAST(listener_id AS VARCHAR) AS listener_id,
       CAST(show_id AS VARCHAR) AS show_id, CAST(seconds AS BIGINT) AS seconds
FROM listens
WHERE (SELECT start FROM increment_bounds) IS NULL OR CAST(event_id AS VARCHAR) > (SELECT start FROM increment_bounds)
"""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _make_append(root: Path, *, watermark: str | None = "event_id", refresh: str = "append") -> None:
    custom = f"      - {{property: refresh, value: {refresh}}}\n"
    if watermark is not None:
        custom += f"      - {{property: watermark, value: {watermark}}}\n"
    _edit(
        root / FOLDER / "product.odps.yaml",
        f"    contractId: {PORT}\n",
        f"    contractId: {PORT}\n    customProperties:\n{custom}",
    )
    (root / FOLDER / "listening_events.sql").write_text(APPEND_SQL)


@pytest.fixture
def append_root(root: Path) -> Path:
    _make_append(root)
    # Over 45 rows: true of the whole table after an increment of 10, never of the increment alone.
    _edit(root / FOLDER / "listening_events.odcs.yaml", "mustBeGreaterThan: 0", "mustBeGreaterThan: 45")
    write_events(root, 50)
    return root


def _build(root: Path, *, full_refresh: bool = False) -> ProductOutcome:
    with Mesh.open(root) as mesh:
        result = mesh.build([PRODUCT], full_refresh=full_refresh)
    [outcome] = result.outcomes
    return outcome


def _table(root: Path) -> tuple[int, int, tuple[str, ...]]:
    """The port's current snapshot id, rows and data files."""
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(Address.parse(PORT))
        assert snapshot is not None
        return snapshot.snapshot_id, snapshot.row_count, tuple(str(f) for f in snapshot.data_files)


def _ids(root: Path) -> list[str]:
    with Mesh.open(root) as mesh:
        return sorted(mesh.read(PORT).column("event_id").to_pylist())


def _plan_runs(cli: Any, root: Path, *args: str) -> dict[str, Any]:
    result = cli("plan", PRODUCT, *args, "--mesh", str(root), "--format", "json")
    assert result.code == 0, result.stdout + result.stderr
    [item] = result.json()
    runs: dict[str, Any] = item["runs"]["listening_events"]
    return runs


def test_an_append_build_computes_only_the_new_rows_and_keeps_the_published_files(append_root: Path) -> None:
    first = _build(append_root)
    assert first.status is Status.SUCCESS, first.error
    assert [(p.rows, p.run) for p in first.ports] == [(50, "full")]
    _, rows, files = _table(append_root)
    assert rows == 50

    write_events(append_root, 10, name="part-2.csv", start=50)
    second = _build(append_root)
    assert second.status is Status.SUCCESS, second.error
    # The transform produced only the 10 new rows; the table holds all 60, the earlier files kept as they were.
    assert [(p.rows, p.run) for p in second.ports] == [(10, "append")]
    _, rows, appended = _table(append_root)
    assert rows == 60
    assert set(files) < set(appended)
    assert _ids(append_root) == [f"E{i:06d}" for i in range(60)]


def test_increment_checks_see_new_rows_for_row_rules_and_the_whole_table_for_table_rules(append_root: Path) -> None:
    assert _build(append_root).status is Status.SUCCESS
    write_events(append_root, 10, name="part-2.csv", start=50)
    outcome = _build(append_root)
    assert outcome.status is Status.SUCCESS, outcome.error
    checks = {c.metric: c for c in outcome.ports[0].checks}
    # rowCount > 45 holds on the would-be table (60 rows); on the 10 new rows alone it would have failed.
    assert checks["rowCount"].passed
    assert checks["rowCount"].observed == 60
    assert checks["watermark"].passed
    assert checks["watermark"].observed == 0
    # Uniqueness is a rule about the table: checked over all 60 rows.
    assert checks["unique"].passed


def test_duplicates_among_new_rows_fail_the_increment_when_no_published_file_can_share_their_keys(
    append_root: Path,
) -> None:
    # The new keys (E000050..) lie after every published one: the uniqueness rule is measured in the new rows' scan.
    assert _build(append_root).status is Status.SUCCESS
    before = _table(append_root)
    write_events(append_root, 10, name="part-2.csv", start=50)
    write_events(append_root, 5, name="part-3.csv", start=55)  # E000055..59 a second time
    failed = _build(append_root)
    assert failed.status is Status.FAILED
    unique = next(c for c in failed.ports[0].checks if c.metric == "unique")
    assert not unique.passed and unique.observed == 5
    assert {row["event_id"] for row in unique.sample} == {f"E{i:06d}" for i in range(55, 60)}
    assert _table(append_root) == before


def test_an_append_reads_no_published_file_to_check_the_whole_tables_count_rules(
    append_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rowCount and the sql rule count over files: the published files' counts are remembered from the build that
    wrote them, the new file's from its own scan; uniqueness reads no published file whose keys miss the new."""
    from meshplane.engines.base import FileRelation, GovernedRelation
    from meshplane.engines.duckdb import DuckDBEngine
    from meshplane.workspace.checking import CHECKED

    assert _build(append_root).status is Status.SUCCESS
    published = set(_table(append_root)[2])
    read: set[str] = set()
    statements: list[str] = []
    query = DuckDBEngine.query

    def spy(self: DuckDBEngine, sql: str, relations: Any) -> Any:
        statements.append(sql)
        for name, relation in relations.items():  # the contract checks' relations (not the watermark's bound)
            if name == CHECKED and isinstance(relation, FileRelation | GovernedRelation):
                paths = relation.paths if isinstance(relation, FileRelation) else relation.files
                read.update(str(p) for p in paths)
        return query(self, sql, relations)

    monkeypatch.setattr(DuckDBEngine, "query", spy)
    write_events(append_root, 10, name="part-2.csv", start=50, bad=3)
    failed = _build(append_root)
    checks = {c.metric: c for c in failed.ports[0].checks}
    assert failed.status is Status.FAILED
    assert (checks["sql"].passed, checks["sql"].observed) == (False, 3)
    assert checks["rowCount"].observed == 60
    read.clear()  # a failing rule's sample rows are read from the whole table: only the passing run is kept
    statements.clear()
    write_events(append_root, 10, name="part-2.csv", start=50)
    appended = _build(append_root)
    checks = {c.metric: c for c in appended.ports[0].checks}
    assert appended.status is Status.SUCCESS, appended.error
    assert (checks["sql"].passed, checks["sql"].observed, checks["rowCount"].observed) == (True, 0, 60)
    assert read and not read & {p.removeprefix("file://") for p in published}
    # the sql rule is measured once, in the new rows' scan (with their row rules): the table's check scans nothing
    measured = [sql for sql in statements if "seconds < 0" in sql]
    assert len(measured) == 1 and "__required" in measured[0]


def test_a_failing_increment_publishes_nothing(append_root: Path) -> None:
    assert _build(append_root).status is Status.SUCCESS
    before = _table(append_root)
    write_events(append_root, 10, name="part-2.csv", start=50, bad=2)  # two rows with negative seconds
    failed = _build(append_root)
    assert failed.status is Status.FAILED
    assert "contract check(s) failed" in (failed.error or "")
    assert _table(append_root) == before
    assert _ids(append_root) == [f"E{i:06d}" for i in range(50)]
    # Fixed at the source: the next build appends the increment.
    write_events(append_root, 10, name="part-2.csv", start=50)
    fixed = _build(append_root)
    assert fixed.status is Status.SUCCESS, fixed.error
    assert [(p.rows, p.run) for p in fixed.ports] == [(10, "append")]
    assert _table(append_root)[1] == 60


def test_new_rows_at_or_before_the_watermark_fail_the_increment(root: Path) -> None:
    # This transform lets late events through its bounds: appending them would misplace (or repeat) rows.
    _make_append(root)
    _edit(root / FOLDER / "listening_events.sql", "IS NULL OR", "IS NULL OR listener_id = 'LATE' OR")
    assert _build(root).status is Status.SUCCESS
    before = _table(root)
    (root / "data/listens/part-2.csv").write_text(
        "event_id,listener_id,show_id,seconds\nE000000x,LATE,S1,60\nE999999,L1,S1,60\n"
    )
    failed = _build(root)
    assert failed.status is Status.FAILED
    assert "rule increment.watermark" in (failed.error or "")
    checks = {c.metric: c for c in failed.ports[0].checks}
    assert checks["watermark"].observed == 1
    assert checks["unique"].passed  # the late id is new: only the watermark guard catches it
    assert _table(root) == before


def test_plan_says_which_kind_of_run_and_why(cli: Any, append_root: Path) -> None:
    assert _plan_runs(cli, append_root) == {"kind": "full", "why": "first build"}
    assert _build(append_root).status is Status.SUCCESS
    write_events(append_root, 10, name="part-2.csv", start=50)
    assert _plan_runs(cli, append_root) == {"kind": "append", "why": "rows after the last published event_id"}
    assert _plan_runs(cli, append_root, "--full-refresh") == {"kind": "full", "why": "--full-refresh"}
    text = cli("plan", PRODUCT, "--mesh", str(append_root))
    assert "listening_events: append run (rows after the last published event_id)" in text.stdout
    _edit(append_root / FOLDER / "listening_events.sql", "FROM listens", "FROM listens AS listens")
    assert _plan_runs(cli, append_root) == {"kind": "full", "why": "code changed"}
    _edit(append_root / FOLDER / "listening_events.odcs.yaml", "mustBeGreaterThan: 45", "mustBeGreaterThan: 44")
    assert _plan_runs(cli, append_root)["kind"] == "full"


def test_full_refresh_and_a_changed_transform_rebuild_the_whole_table(append_root: Path) -> None:
    assert _build(append_root).status is Status.SUCCESS
    write_events(append_root, 10, name="part-2.csv", start=50)
    assert _build(append_root).ports[0].run == "append"
    refreshed = _build(append_root, full_refresh=True)
    assert [(p.rows, p.run) for p in refreshed.ports] == [(60, "full")]
    _, rows, files = _table(append_root)
    assert rows == 60
    _edit(append_root / FOLDER / "listening_events.sql", "FROM listens", "FROM listens AS listens")
    rebuilt = _build(append_root)
    assert [(p.rows, p.run) for p in rebuilt.ports] == [(60, "full")]
    assert _ids(append_root) == [f"E{i:06d}" for i in range(60)]
    assert not set(files) & set(_table(append_root)[2])  # the whole table was rewritten


def test_a_scheduled_tick_appends(append_root: Path) -> None:
    assert _build(append_root).status is Status.SUCCESS
    write_events(append_root, 10, name="part-2.csv", start=50)
    with Mesh.open(append_root) as mesh:
        plan = mesh.plan([PRODUCT], force=True)
        assert plan.items[0].runs["listening_events"].kind == "append"
        result = mesh.build_plan(plan)
    assert [(p.rows, p.run) for p in result.outcomes[0].ports] == [(10, "append")]


@pytest.mark.parametrize(
    ("refresh", "watermark", "message"),
    [
        ("upsert", "event_id", "unknown refresh 'upsert'"),
        ("merge", "event_id", "a merge port upserts by its contract's primary key, and the contract declares none"),
        ("append", None, "an append port needs a watermark column of its contract, got None"),
        ("append", "no_such_column", "an append port needs a watermark column of its contract, got 'no_such_column'"),
    ],
)
def test_a_bad_refresh_setting_is_a_located_error(
    cli: Any, root: Path, refresh: str, watermark: str | None, message: str
) -> None:
    _make_append(root, watermark=watermark, refresh=refresh)
    result = cli("check", str(root))
    assert result.code != 0
    output = result.stdout + result.stderr
    assert message in output
    assert "product.odps.yaml:" in output


@pytest.mark.slow
@pytest.mark.parametrize("point", ["staged", "before_commit", "mid_metadata"])
def test_a_killed_append_build_leaves_the_table_as_it_was(append_root: Path, point: str) -> None:
    from .test_crash import assert_consistent, start

    assert _build(append_root).status is Status.SUCCESS
    before = _table(append_root)
    write_events(append_root, 10, name="part-2.csv", start=50)
    process = start(append_root, point, PRODUCT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -9, stderr
    assert_consistent(append_root)
    assert _table(append_root) == before
    assert _ids(append_root) == [f"E{i:06d}" for i in range(50)]
    # The next build appends the increment once.
    recovered = _build(append_root)
    assert [(p.rows, p.run) for p in recovered.ports] == [(10, "append")]
    assert _ids(append_root) == [f"E{i:06d}" for i in range(60)]


# --- not built yet (issue 17): merge and partitions refresh, the contract's partitioning as the Iceberg spec ---


MERGE_SQL = """\
SELECT CAST(event_id AS VARCHAR) AS event_id, CAST(listener_id AS VARCHAR) AS listener_id,
       CAST(show_id AS VARCHAR) AS show_id, CAST(seconds AS BIGINT) AS seconds,
       CAST(changed AS BIGINT) AS changed, CAST(gone AS BOOLEAN) AS gone
FROM listens
WHERE (SELECT start FROM increment_bounds) IS NULL OR changed > (SELECT start FROM increment_bounds)
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY changed DESC) = 1
"""


def _listens(root: Path, name: str, rows: list[tuple[str, int, int, bool]]) -> None:
    """Rows of the listens source with the time each was last changed and whether it was deleted."""
    lines = ["event_id,listener_id,show_id,seconds,changed,gone"]
    lines += [f"{event},L1,S1,{seconds},{changed},{str(gone).lower()}" for event, seconds, changed, gone in rows]
    (root / "data/listens" / name).write_text("\n".join(lines) + "\n")


def _make_merge(root: Path) -> None:
    _make_append(root, watermark="changed", refresh="merge")
    _edit(
        root / FOLDER / "product.odps.yaml",
        "      - {property: watermark, value: changed}\n",
        "      - {property: watermark, value: changed}\n      - {property: deleteFlag, value: gone}\n",
    )
    contract = root / FOLDER / "listening_events.odcs.yaml"
    _edit(contract, "{name: event_id, logicalType: string, required: true, unique: true}",
          "{name: event_id, logicalType: string, required: true, unique: true, primaryKey: true}")  # fmt: skip
    _edit(contract, "      - {name: show_id, logicalType: string, required: true}\n",
          "      - {name: show_id, logicalType: string, required: true}\n"
          "      - {name: changed, logicalType: integer, required: true}\n"
          "      - {name: gone, logicalType: boolean}\n")  # fmt: skip
    (root / FOLDER / "listening_events.sql").write_text(MERGE_SQL)
    for old in (root / "data/listens").glob("*.csv"):
        old.unlink()
    _listens(root, "part-1.csv", [(f"E{i:06d}", 60 + i, 1, False) for i in range(50)])


def test_a_merge_port_upserts_changed_rows_by_primary_key_and_deletes_flagged_ones(cli: Any, root: Path) -> None:
    _make_merge(root)
    assert cli("check", str(root)).code == 0
    first = _build(root)
    assert first.status is Status.SUCCESS, first.error
    assert [(p.rows, p.run) for p in first.ports] == [(50, "full")]
    # Changed at time 2: E000001 listened longer, E000002 deleted, E000050 new.
    _listens(root, "part-2.csv", [("E000001", 999, 2, False), ("E000002", 0, 2, True), ("E000050", 7, 2, False)])
    assert _plan_runs(cli, root) == {
        "kind": "merge",
        "why": "rows changed after the last published changed, upserted by event_id",
    }
    merged = _build(root)
    assert merged.status is Status.SUCCESS, merged.error
    assert [(p.rows, p.run) for p in merged.ports] == [(3, "merge")]  # the transform computed the 3 changed rows
    with Mesh.open(root) as mesh:
        table = mesh.read(PORT)
    seconds = dict(zip(table["event_id"].to_pylist(), table["seconds"].to_pylist(), strict=True))
    assert len(seconds) == table.num_rows == 50  # 50 - 1 deleted + 1 new
    assert seconds["E000001"] == 999 and "E000002" not in seconds and seconds["E000050"] == 7
    assert seconds["E000003"] == 63  # untouched rows stay as published
    checks = {c.metric: c for c in merged.ports[0].checks}
    assert checks["rowCount"].observed == 50 and checks["unique"].passed and checks["watermark"].passed


def test_a_failing_merge_publishes_nothing(root: Path) -> None:
    _make_merge(root)
    assert _build(root).status is Status.SUCCESS
    before = _table(root)
    _listens(root, "part-2.csv", [("E000001", -5, 2, False)])  # negative seconds break a row rule
    failed = _build(root)
    assert failed.status is Status.FAILED and "contract check(s) failed" in (failed.error or "")
    assert _table(root) == before


def test_the_contracts_partitioning_becomes_the_iceberg_partition_spec(root: Path) -> None:
    _edit(
        root / FOLDER / "listening_events.odcs.yaml",
        "      - {name: show_id, logicalType: string, required: true}",
        "      - {name: show_id, logicalType: string, required: true, partitioned: true, partitionKeyPosition: 1}",
    )
    assert _build(root).status is Status.SUCCESS
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(Address.parse(PORT))
        assert snapshot is not None
        table = mesh.platform.tables.catalog.load_table(snapshot.table_id.identifier)  # type: ignore[union-attr]
    assert [field.name for field in table.spec().fields] == ["show_id"]
    # Each published file holds one show, and the table reads back whole.
    shows = [task.file.partition[0] for task in table.scan().plan_files()]
    with Mesh.open(root) as mesh:
        events = mesh.read(PORT)
    assert sorted(set(shows)) == sorted(set(events["show_id"].to_pylist()))
    assert events.num_rows == sum(task.file.record_count for task in table.scan().plan_files())


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("{name: show_id, logicalType: string, required: true, partitioned: true, customProperties: "
         "[{property: partitionTransform, value: bucket}]}", "unknown partitionTransform 'bucket'"),
        ("{name: show_id, logicalType: string, required: true, partitioned: true, customProperties: "
         "[{property: partitionTransform, value: day}]}", "partitionTransform day needs a date or timestamp column"),
        ("{name: show_id, logicalType: string, required: true, customProperties: "
         "[{property: partitionTransform, value: identity}]}", "has a partitionTransform but is not partitioned"),
    ],
)  # fmt: skip
def test_a_bad_partitioning_is_a_located_error(cli: Any, root: Path, column: str, message: str) -> None:
    _edit(root / FOLDER / "listening_events.odcs.yaml", "{name: show_id, logicalType: string, required: true}", column)
    result = cli("check", str(root))
    output = result.stdout + result.stderr
    assert result.code != 0 and message in output
    assert "listening_events.odcs.yaml:" in output


# A partitions port: the shows the rows after the last published event_id belong to are recomputed whole.
PARTITIONS_SQL = """\
SELECT CAST(event_id AS VARCHAR) AS event_id, CAST(listener_id AS VARCHAR) AS listener_id,
       CAST(show_id AS VARCHAR) AS show_id, CAST(seconds AS BIGINT) AS seconds
FROM listens
WHERE (SELECT start FROM increment_bounds) IS NULL
   OR show_id IN (SELECT show_id FROM listens WHERE CAST(event_id AS VARCHAR) > (SELECT start FROM increment_bounds))
"""


@pytest.fixture
def partitions_root(root: Path) -> Path:
    _make_append(root, refresh="partitions")
    (root / FOLDER / "listening_events.sql").write_text(PARTITIONS_SQL)
    _edit(
        root / FOLDER / "listening_events.odcs.yaml",
        "      - {name: show_id, logicalType: string, required: true}",
        "      - {name: show_id, logicalType: string, required: true, partitioned: true, partitionKeyPosition: 1}",
    )
    # Over 31 rows: true of the whole table (40, then 42), never of the recomputed partitions alone (22).
    _edit(root / FOLDER / "listening_events.odcs.yaml", "mustBeGreaterThan: 0", "mustBeGreaterThan: 31")
    write_events(root, 40)  # shows S0..S3, 10 events each
    return root


def _files_by_show(root: Path) -> dict[str, set[str]]:
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(Address.parse(PORT))
        assert snapshot is not None
        table = mesh.platform.tables.catalog.load_table(snapshot.table_id.identifier)  # type: ignore[union-attr]
    found: dict[str, set[str]] = {}
    for task in table.scan().plan_files():
        found.setdefault(task.file.partition[0], set()).add(task.file.file_path)
    return found


def test_a_partitions_run_replaces_only_the_touched_partitions(cli: Any, partitions_root: Path) -> None:
    root = partitions_root
    assert _plan_runs(cli, root) == {"kind": "full", "why": "first build"}
    first = _build(root)
    assert first.status is Status.SUCCESS and first.ports[0].rows == 40, first.error
    before = _files_by_show(root)
    assert sorted(before) == ["S0", "S1", "S2", "S3"]

    write_events(root, 2, name="part-2.csv", start=40)  # E000040 (S0) and E000041 (S1)
    assert _plan_runs(cli, root) == {
        "kind": "partitions",
        "why": "partitions (show_id) of the rows after the last published event_id, replaced whole",
    }
    second = _build(root)
    assert second.status is Status.SUCCESS, second.error
    # The transform recomputed the two touched shows whole (11 + 11 rows); the table has all 42.
    assert [(p.rows, p.run) for p in second.ports] == [(22, "partitions")]
    checks = {c.metric: c for c in second.ports[0].checks}
    assert checks["rowCount"].passed and checks["rowCount"].observed == 42  # the whole table's rule saw 42
    after = _files_by_show(root)
    assert after["S2"] == before["S2"] and after["S3"] == before["S3"]  # untouched partitions: the same files
    assert not (after["S0"] & before["S0"]) and not (after["S1"] & before["S1"])  # touched: replaced
    assert _ids(root) == [f"E{i:06d}" for i in range(42)]  # no row lost or repeated
    with Mesh.open(root) as mesh:
        history = mesh.platform.tables.history(_table_id(mesh))
    assert [s.properties.get("operation") for s in history[-2:]] == ["append", "overwrite"]  # one snapshot


def _table_id(mesh: Mesh) -> Any:
    snapshot = mesh.builds.current(Address.parse(PORT))
    assert snapshot is not None
    return snapshot.table_id


def test_a_failing_partitions_increment_publishes_nothing(partitions_root: Path) -> None:
    root = partitions_root
    assert _build(root).status is Status.SUCCESS
    before, files = _table(root), _files_by_show(root)
    write_events(root, 2, name="part-2.csv", start=40, bad=1)  # E000040 (S0) has negative seconds
    failed = _build(root)
    assert failed.status is Status.FAILED and "contract check(s) failed" in (failed.error or "")
    assert _table(root) == before and _files_by_show(root) == files
    # A whole-table rule failing fails it too: S1 recomputed from one event leaves 31 rows, the rule wants over 31.
    write_events(root, 0, name="part-2.csv", start=40)
    (root / "data/listens/part-1.csv").write_text(
        "event_id,listener_id,show_id,seconds\n"
        + "".join(f"E{i:06d},L{i % 7:08d},S{i % 4},{60 + i}\n" for i in range(40) if i % 4 != 1)
        + "E000099,L00000001,S1,60\n"
    )
    shrunk = _build(root)
    assert shrunk.status is Status.FAILED and "rowCount" in (shrunk.error or ""), shrunk.error
    assert _table(root) == before


def test_a_partitions_port_needs_a_partitioned_contract(cli: Any, root: Path) -> None:
    _make_append(root, refresh="partitions")
    result = cli("check", str(root))
    output = result.stdout + result.stderr
    assert result.code != 0 and "a partitions port replaces partitions of its table" in output
    assert "product.odps.yaml:" in output
