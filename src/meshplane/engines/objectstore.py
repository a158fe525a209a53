"""DuckDB reading a warehouse on S3: the httpfs extension from its wheel, and a temporary secret.

Extensions are never downloaded at run time: ``duckdb-extension-httpfs`` (the ``s3`` extra) carries the
signed official binary, which is LOADed by path. The credentials go into a TEMPORARY secret scoped to the
warehouse prefix; DuckDB redacts it in ``duckdb_secrets()`` and refuses unredacted listing (the default
``allow_unredacted_secrets = false``), so SQL run on such a connection cannot read the key back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meshplane.errors import EngineUnavailable
from meshplane.storage.objectstore import S3Location

if TYPE_CHECKING:
    import duckdb

__all__ = ["httpfs_path", "open_s3"]

_HINT = 'reading a warehouse on S3 needs DuckDB\'s httpfs extension: pip install "meshplane[s3]"'


def httpfs_path() -> Path:
    """The httpfs binary shipped in the ``duckdb-extension-httpfs`` wheel for this DuckDB version."""
    import duckdb

    try:
        import duckdb_extension_httpfs  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        raise EngineUnavailable(_HINT) from None
    folder = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    binary = folder / "httpfs.duckdb_extension"
    if not binary.is_file():
        raise EngineUnavailable(f"{_HINT} (no httpfs build for DuckDB {duckdb.__version__} in {folder.parent})")
    return binary


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_s3(connection: duckdb.DuckDBPyConnection, location: S3Location) -> None:
    """Let ``connection`` read objects under ``location`` (before any lock-down of the connection)."""
    options = [
        "TYPE s3",
        f"SCOPE {_quote(location.uri)}",
        f"REGION {_quote(location.region)}",
        "URL_STYLE 'path'",
        f"USE_SSL {'true' if location.use_ssl else 'false'}",
    ]
    if location.host:
        options.append(f"ENDPOINT {_quote(location.host)}")
    if location.access_key_id:
        options.append(f"KEY_ID {_quote(location.access_key_id)}")
        options.append(f"SECRET {_quote(location.secret_access_key or '')}")
    connection.execute(f"LOAD {_quote(str(httpfs_path()))}")
    # CREATE SECRET takes no bound parameters; every value is quoted above.
    connection.execute(f"CREATE TEMPORARY SECRET meshplane_warehouse ({', '.join(options)})")
