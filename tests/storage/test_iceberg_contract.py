"""Iceberg tables carry the port's contract, as other engines read it: an independent pyiceberg client (its own
process) and DuckDB's ``iceberg_scan`` (the extension's wheel) see the same columns, types, required flags,
identifier fields (the primary key) and column docs; columns resolve through the name mapping the table records.

Spark's Iceberg reader is not tested: its runtime (iceberg-spark-runtime) is a Maven artefact and this machine
reaches PyPI, Debian and npm only. The one PyPI package that carries it, snowpark-connect-deps-iceberg 1.0.3,
ships iceberg-spark-runtime-3.5 (Iceberg 1.10.2, built for Spark 3.5), which PySpark 4.3 cannot load
(IncompatibleClassChangeError on CatalogManager). What Spark is tested on instead is labelled as such:
its Parquet reader over the data files pyiceberg lists, compared with the pyiceberg schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pytest

from meshplane.spec.scaffold import new_domain, new_mesh, new_product
from meshplane.workspace import Mesh

INDEPENDENT = """
import json, sys
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("meshplane", uri=sys.argv[1], warehouse=sys.argv[2])
table = catalog.load_table(sys.argv[3])
schema = table.schema()
rows = table.scan().to_arrow()
print(json.dumps({
    "fields": [[f.name, str(f.field_type), f.required, f.doc] for f in schema.fields],
    "identifiers": list(schema.identifier_field_names()),
    "name_mapping": "schema.name-mapping.default" in table.properties,
    "rows": rows.num_rows,
    "files": [task.file.file_path for task in table.scan().plan_files()],
    "columns": rows.column_names,
    "metadata": table.metadata_location,
    "schemas": len(table.metadata.schemas),
}))
"""


def _extension(name: str) -> str:
    package = resources.files(f"duckdb_extension_{name}")
    return str(next(Path(str(package)).glob(f"extensions/*/{name}.duckdb_extension")))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("iceberg") / "acme"
    new_mesh(root)
    new_domain(root, "podcasts")
    new_product(root, "podcasts", "episodes")
    contract = root / "domains/podcasts/episodes/episodes.odcs.yaml"
    # a second required column and an optional one without description
    contract.write_text(
        contract.read_text("utf-8").replace(
            "        description: Human-readable label.\n",
            "        description: Human-readable label.\n"
            "        required: true\n"
            "      - name: plays\n        logicalType: integer\n        physicalType: BIGINT\n",
        ),
        "utf-8",
    )
    sql = root / "domains/podcasts/episodes/episodes.sql"
    sql.write_text(
        "SELECT 'r-1' AS record_id, 'first' AS label, 3::BIGINT AS plays\nUNION ALL SELECT 'r-2', 'second', NULL\n",
        "utf-8",
    )
    with Mesh.open(root) as mesh:
        result = mesh.build(jobs=1)
        assert result.ok, result
    return root


def _independent(root: Path) -> dict[str, Any]:
    with Mesh.open(root) as mesh:
        store = mesh.platform.tables
        url, warehouse = store.catalog_url, store.location
    identifier = "podcasts.episodes__episodes__v0"
    done = subprocess.run(
        [sys.executable, "-c", INDEPENDENT, url, warehouse, identifier], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_an_independent_pyiceberg_client_sees_the_contract(built: Path) -> None:
    seen = _independent(built)
    assert seen["fields"] == [
        ["record_id", "string", True, "Identifier of the record."],
        ["label", "string", True, "Human-readable label."],
        ["plays", "long", False, None],
    ]
    assert seen["identifiers"] == ["record_id"]
    assert seen["name_mapping"] is True
    assert (seen["rows"], seen["columns"]) == (2, ["record_id", "label", "plays"])


def test_duckdb_iceberg_scan_sees_the_same_table(built: Path) -> None:
    seen = _independent(built)
    con = duckdb.connect()
    con.execute(f"LOAD '{_extension('avro')}'")
    con.execute(f"LOAD '{_extension('iceberg')}'")
    metadata = seen["metadata"]
    described = con.execute(f"DESCRIBE SELECT * FROM iceberg_scan('{metadata}')").fetchall()
    assert [(name, kind) for name, kind, *_ in described] == [
        ("record_id", "VARCHAR"),
        ("label", "VARCHAR"),
        ("plays", "BIGINT"),
    ]
    rows = con.execute(f"SELECT * FROM iceberg_scan('{metadata}') ORDER BY record_id").fetchall()
    assert rows == [("r-1", "first", 3), ("r-2", "second", None)]


# Iceberg type -> the type Spark's Parquet reader gives the same column
_SPARK_TYPES = {"string": "string", "long": "bigint"}


@pytest.mark.spark
def test_spark_parquet_reader_over_the_data_files_matches_the_iceberg_schema(built: Path) -> None:
    """NOT Spark's Iceberg reader (not installable, see the module's docstring): Spark reads the current snapshot's
    Parquet data files, as pyiceberg lists them, and sees the Iceberg schema's columns, in order, with the same
    types and rows. Spark's file reader marks every column nullable whatever the file says, so required flags are
    asserted by the pyiceberg and iceberg_scan tests above, not here."""
    from urllib.parse import urlparse

    from meshplane.engines.spark import SparkEngine

    seen = _independent(built)
    paths = [urlparse(uri).path for uri in seen["files"]]
    # The default master: one process holds one Spark context, which earlier tests may have started.
    with SparkEngine(conf={"spark.sql.shuffle.partitions": "1"}) as engine:
        frame = engine.session.read.parquet(*paths)
        fields = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
        rows = sorted(tuple(r) for r in frame.collect())
    assert fields == [(name, _SPARK_TYPES[kind]) for name, kind, _, _ in seen["fields"]]
    assert rows == [("r-1", "first", 3), ("r-2", "second", None)]


def test_a_contract_change_evolves_the_schema_flags_without_churn(built: Path) -> None:
    contract = built / "domains/podcasts/episodes/episodes.odcs.yaml"
    sql = built / "domains/podcasts/episodes/episodes.sql"
    before = _independent(built)
    # plays becomes required (an additive change) and documented; the transform stops writing nulls
    contract.write_text(
        contract.read_text("utf-8").replace(
            "physicalType: BIGINT\n", "physicalType: BIGINT\n        required: true\n        description: Plays.\n"
        ),
        "utf-8",
    )
    sql.write_text(sql.read_text("utf-8").replace("NULL", "0::BIGINT"), "utf-8")
    with Mesh.open(built) as mesh:
        assert mesh.build(jobs=1).ok
    after = _independent(built)
    assert after["fields"][2] == ["plays", "long", True, "Plays."]
    assert after["schemas"] == before["schemas"] + 1  # one new schema version for the change
    with Mesh.open(built) as mesh:
        assert mesh.build(jobs=1, full_refresh=True).ok
    again = _independent(built)
    assert again["fields"] == after["fields"] and again["identifiers"] == ["record_id"]
    assert again["schemas"] == after["schemas"]  # an unchanged contract adds no schema version
