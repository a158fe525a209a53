"""With the warehouse on S3 the gateway's sandbox holds the bucket's credentials; consumer SQL never sees them.

Through the gateway, every way to ask DuckDB for secrets or settings is refused and no message, result or
log entry carries the key or the secret. In the raw sandbox (guard bypassed), DuckDB itself redacts the
secret and refuses an unredacted listing, and only the granted objects are readable: no other key of the
same bucket, no other bucket, no listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ANALYST, CONSUMER_KEY, Mesh, build_fixtures, make_resolver, upload_fixtures
from meshplane.access import QueryGateway
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxLimits
from meshplane.errors import MeshError

LIMITS = SandboxLimits(memory_limit="512MB", threads=2, timeout_seconds=5.0, max_rows=50_000)
C = "crm.customers.customers"
PROBES = [
    "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM duckdb_secrets(redact := false)",
    "SELECT * FROM duckdb_settings()",
    "SELECT current_setting('s3_access_key_id'), current_setting('s3_secret_access_key')",
    "SELECT * FROM which_secret('{customers}', 's3')",
    "SELECT getenv('AWS_SECRET_ACCESS_KEY')",
    "SELECT * FROM read_parquet('{bucket}/secret.parquet')",
    "SELECT * FROM read_parquet('{bucket}/**/*.parquet')",
    "SELECT * FROM glob('{bucket}/*')",
    "SELECT * FROM read_parquet('s3://another-bucket/x.parquet')",
    "SELECT * FROM read_text('{bucket}/secret.txt')",
    "CREATE SECRET mine (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "SET s3_access_key_id = 'x'",
    f"SELECT * FROM {C} WHERE name = (SELECT secret_string FROM duckdb_secrets())",
]


@pytest.fixture(scope="module")
def s3_mesh(s3_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    root = tmp_path_factory.mktemp("s3-credentials")
    return upload_fixtures(Mesh(root, build_fixtures(root)), s3_server)


@pytest.fixture(scope="module")
def s3_gateway(s3_mesh: Mesh) -> Iterator[QueryGateway]:
    gateway = QueryGateway(limits=LIMITS, on_query=s3_mesh.log.append, object_store=s3_mesh.store)
    yield gateway
    gateway.close()


def _credentials(mesh: Mesh) -> tuple[str, str]:
    assert mesh.store is not None and mesh.store.access_key_id and mesh.store.secret_access_key
    return mesh.store.access_key_id, mesh.store.secret_access_key


def _fill(sql: str, mesh: Mesh) -> str:
    return sql.replace("{bucket}", mesh.base).replace("{customers}", mesh.path("customers_s2"))


@pytest.mark.parametrize("probe", PROBES)
def test_gateway_never_shows_credentials(probe: str, s3_gateway: QueryGateway, s3_mesh: Mesh) -> None:
    key, secret = _credentials(s3_mesh)
    logged = len(s3_mesh.log)
    try:
        result = s3_gateway.run(_fill(probe, s3_mesh), ANALYST, make_resolver(s3_mesh), consumer_key=CONSUMER_KEY)
    except MeshError as error:
        text = str(error)
    else:
        text = repr(result.table.to_pylist())
    assert key not in text and secret not in text, text
    assert all(key not in repr(e) and secret not in repr(e) for e in s3_mesh.log[logged:])


def test_granted_objects_are_read_from_the_bucket(s3_gateway: QueryGateway, s3_mesh: Mesh) -> None:
    result = s3_gateway.run(f"SELECT count(*) AS n FROM {C}", ANALYST, make_resolver(s3_mesh), consumer_key="k")
    assert result.table.column("n").to_pylist() == [3]  # the row filter drops the fourth


@pytest.mark.parametrize("probe", PROBES)
def test_raw_sandbox_redacts_and_confines(probe: str, s3_mesh: Mesh) -> None:
    """Guard bypassed: DuckDB's own redaction and allowed_paths are what stand."""
    key, secret = _credentials(s3_mesh)
    sandbox = DuckDBSandbox(LIMITS, prewarm=False, object_store=s3_mesh.store)
    try:
        table = sandbox.run(_fill(probe, s3_mesh), [s3_mesh.path("regions")])
    except Exception as error:  # DuckDB's unsanitised errors
        text = str(error)
    else:
        text = repr(table.to_pylist())
        assert "FILECANARY" not in text
    finally:
        sandbox.close()
    assert secret not in text, text
    if "duckdb_secrets" not in probe:
        # duckdb_secrets() itself lists the key id (never the secret); the gateway's guard refuses it above
        assert key not in text, text
