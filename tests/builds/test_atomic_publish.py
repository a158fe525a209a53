"""A product publishes atomically: all its output ports show one build's result, or all the previous one.

podcasts.listening_events gets a second output port here (plays per show). A build of it is SIGKILLed at
every step of the publish, on SQLite and PostgreSQL, and the disk fills up while the new metadata is written:
afterwards both ports always come from the same run, and the next build recovers.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshplane.builds import Status
from meshplane.storage import TableId
from meshplane.storage.store import RUN_PROPERTY
from meshplane.workspace import Mesh

from .meshes import EVENTS, write_events, write_mesh
from .test_crash import WORKER, assert_consistent

PRODUCT = "podcasts.listening_events"
EVENTS_DIR = "domains/podcasts/listening_events"
TABLES = [
    TableId.for_port("podcasts", "listening_events", "listening_events", 1),
    TableId.for_port("podcasts", "listening_events", "plays_by_show", 1),
]
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

PLAYS_CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: podcasts.listening_events.plays_by_show
name: plays_by_show
version: 1.0.0
status: active
domain: podcasts
dataProduct: listening_events
slaProperties:
  - {property: latency, value: 1, unit: d}
  - {property: frequency, value: 1, unit: d}
schema:
  - name: plays_by_show
    physicalType: table
    properties:
      - {name: show_id, logicalType: string, required: true, unique: true}
      - {name: plays, logicalType: integer}
"""
PLAYS_SQL = "SELECT CAST(show_id AS VARCHAR) AS show_id, count(*) AS plays FROM listens GROUP BY show_id\n"
PLAYS_PORT = """\
  - name: plays_by_show
    type: tables
    version: 1.0.0
    contractId: podcasts.listening_events.plays_by_show
"""


def add_second_port(root: Path) -> Path:
    folder = root / EVENTS_DIR
    (folder / "plays_by_show.odcs.yaml").write_text(PLAYS_CONTRACT)
    (folder / "plays_by_show.sql").write_text(PLAYS_SQL)
    product = folder / "product.odps.yaml"
    text = product.read_text()
    product.write_text(text.replace("outputPorts:\n", "outputPorts:\n" + PLAYS_PORT, 1))
    return root


def runs_of_ports(root: Path) -> list[str | None]:
    """The run id of each port's current snapshot (None: never published)."""
    with Mesh.open(root) as mesh:
        found = []
        for table in TABLES:
            current = mesh.platform.tables.current(table)
            found.append(None if current is None else current.properties.get(RUN_PROPERTY))
        return found


@pytest.fixture
def two_ports(tmp_path: Path) -> Path:
    return add_second_port(write_mesh(tmp_path / "mesh"))


@pytest.fixture
def postgres_two_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import psycopg

    name = f"mp_i12_atomic_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("MESHPLANE_TEST_CATALOG", f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield add_second_port(write_mesh(tmp_path / "mesh", catalog_url_env="MESHPLANE_TEST_CATALOG"))
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _kill_during_publish(root: Path, point: str, committed: bool) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build([PRODUCT]).ok
    before = runs_of_ports(root)
    assert before[0] is not None and before[0] == before[1]
    write_events(root, 5, name="part-2.csv", start=1000)
    process = subprocess.run(
        [sys.executable, str(WORKER), str(root), point, PRODUCT],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert process.returncode == -9, process.stderr
    after = runs_of_ports(root)
    assert after[0] == after[1], f"ports from different runs after a kill at {point}: {after}"
    assert (after != before) is committed
    assert_consistent(root)
    with Mesh.open(root) as mesh:  # the next build recovers: both ports from one new run
        assert mesh.build([PRODUCT]).ok
        assert mesh.read("podcasts.listening_events.listening_events").num_rows == EVENTS + 5
    final = runs_of_ports(root)
    assert final[0] == final[1] is not None


POINTS = [
    ("staged", False),
    ("between_ports", False),
    ("mid_metadata", False),
    ("before_commit", False),
    ("after_commit", True),
    ("before_run_record", True),
]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "committed"), POINTS)
def test_a_kill_at_any_step_of_the_publish_leaves_all_ports_from_one_run(
    two_ports: Path, point: str, committed: bool
) -> None:
    _kill_during_publish(two_ports, point, committed)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(("point", "committed"), [p for p in POINTS if p[0] in ("between_ports", "before_commit",
                                                                             "after_commit")])  # fmt: skip
def test_a_kill_during_the_publish_on_postgresql(postgres_two_ports: Path, point: str, committed: bool) -> None:
    _kill_during_publish(postgres_two_ports, point, committed)


def test_a_full_disk_while_publishing_leaves_the_previous_ports_and_the_next_build_retries(
    two_ports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.serializers import ToOutputFile

    with Mesh.open(two_ports) as mesh:
        assert mesh.build([PRODUCT]).ok
    before = runs_of_ports(two_ports)
    write_events(two_ports, 5, name="part-2.csv", start=1000)
    write = ToOutputFile.table_metadata
    calls: list[Any] = []

    def second_fills_the_disk(metadata: Any, output_file: Any, overwrite: bool = False) -> None:
        calls.append(output_file)
        if len(calls) == 2:  # the second port's new metadata file: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(output_file.location))
        write(metadata, output_file, overwrite)

    monkeypatch.setattr(ToOutputFile, "table_metadata", staticmethod(second_fills_the_disk))
    with Mesh.open(two_ports) as mesh:
        [outcome] = mesh.build([PRODUCT]).outcomes
    monkeypatch.setattr(ToOutputFile, "table_metadata", staticmethod(write))
    assert outcome.status is Status.FAILED
    assert "No space left on device" in (outcome.error or "")
    assert runs_of_ports(two_ports) == before  # neither port moved
    with Mesh.open(two_ports) as mesh:
        [run] = mesh.runs(PRODUCT, limit=1)
        assert run.status.value == "failed"
        assert PRODUCT in [str(i.address) for i in mesh.plan([PRODUCT]).items]  # not "up to date"
        assert mesh.build([PRODUCT]).ok
    after = runs_of_ports(two_ports)
    assert after[0] == after[1] != before[0]
