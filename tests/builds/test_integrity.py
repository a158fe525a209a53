"""Catalog integrity: a refused build leaves the published baseline as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.errors import PolicyViolation
from meshplane.spec import ProductSpec
from meshplane.workspace import Mesh
from meshplane.workspace.compatibility import breaking_change_problems

from .meshes import EVENTS, write_events

EVENTS_PORT = "podcasts.listening_events.listening_events"
EVENTS_DIR = "domains/podcasts/listening_events"


def _set_version(root: Path, version: str, *, extra_column: bool = False) -> None:
    contract = root / EVENTS_DIR / "listening_events.odcs.yaml"
    text = contract.read_text().replace("version: 1.0.0", f"version: {version}")
    if extra_column:
        text = text.replace(
            "      - name: seconds\n", "      - {name: region, logicalType: string}\n      - name: seconds\n"
        )
    contract.write_text(text)
    product = root / EVENTS_DIR / "product.odps.yaml"
    product.write_text(product.read_text().replace("    version: 1.0.0\n", f"    version: {version}\n"))


def _published(mesh: Mesh) -> tuple[str, list[str]]:
    record = mesh.platform.catalog.reader.port(EVENTS_PORT)
    assert record is not None
    return record.version, [c.name for c in record.columns]


def test_a_build_refused_by_a_failed_check_does_not_become_the_baseline(root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
    columns = ["event_id", "listener_id", "show_id", "seconds"]
    # A new column that never ships: 3 rows break a quality rule, so the build is refused.
    _set_version(root, "1.1.0", extra_column=True)
    write_events(root, EVENTS, bad=3)
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"])
        assert [o.status for o in result.outcomes] == [Status.FAILED]
        assert _published(mesh) == ("1.0.0", columns)
    # Dropping the column that never shipped is no breaking change: the baseline is still 1.0.0.
    _set_version(root, "1.1.0")
    contract = root / EVENTS_DIR / "listening_events.odcs.yaml"
    contract.write_text(contract.read_text().replace("      - {name: region, logicalType: string}\n", ""))
    write_events(root, EVENTS)
    assert breaking_change_problems(root) == []
    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.listening_events"]).ok
        assert _published(mesh) == ("1.1.0", columns)


def test_a_build_refused_by_a_gate_does_not_become_the_baseline(root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
    _set_version(root, "1.1.0")

    def refuse(product: ProductSpec) -> None:
        raise PolicyViolation(f"{product.address}: refused by policy")

    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"], gate=refuse)
        assert [o.status for o in result.outcomes] == [Status.FAILED]
        assert _published(mesh)[0] == "1.0.0"
        # Other products of the mesh are still synced.
        assert mesh.platform.catalog.reader.port("podcasts.shows.shows") is not None


@pytest.mark.parametrize("refused", [True, False])
def test_a_new_product_enters_the_catalog_with_its_ports_only_once_built(root: Path, refused: bool) -> None:
    write_events(root, EVENTS, bad=3 if refused else 0)
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"])
        assert result.ok is not refused
        record = mesh.platform.catalog.reader.port(EVENTS_PORT)
        assert (record is None) is refused


def test_failing_rows_with_dates_and_decimals_are_recorded_with_the_failed_run(root: Path) -> None:
    sql = root / EVENTS_DIR / "listening_events.sql"
    sql.write_text(
        sql.read_text().replace(
            "CAST(seconds AS BIGINT) AS seconds",
            "CAST(seconds AS BIGINT) AS seconds, DATE '2024-05-01' AS day, CAST(1.5 AS DECIMAL(9, 2)) AS fee, "
            "CAST(NULL AS VARCHAR) AS note",
        )
    )
    contract = root / EVENTS_DIR / "listening_events.odcs.yaml"
    contract.write_text(
        contract.read_text().replace(
            "      - name: seconds\n",
            "      - {name: day, logicalType: date}\n      - {name: fee, logicalType: number}\n"
            "      - {name: note, logicalType: string, required: true}\n      - name: seconds\n",
        )
    )
    # `note` is required but always empty: the rule fails, with sample rows holding a DATE and a DECIMAL.
    with Mesh.open(root) as mesh:
        [outcome] = mesh.build(["podcasts.listening_events"]).outcomes
        assert outcome.status is Status.FAILED
        [run] = mesh.runs("podcasts.listening_events")
        assert run.status.value == "failed" and run.rows_written == 0
        stored = mesh.platform.catalog.reader.check_results(run_id=run.run_id)
        samples = [row for c in stored if not c.passed for row in c.sample]
        assert samples and all(row["day"] == "2024-05-01" and row["fee"] == 1.5 for row in samples)
