"""Turn what a Python transform returns into one ``pyarrow.Table`` (no pandas or polars import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshplane.errors import BuildError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["to_arrow_table"]


def to_arrow_table(result: object, transform: str = "transform") -> pa.Table:
    """Accept a pyarrow Table or RecordBatchReader, a DuckDB relation, a Polars or pandas DataFrame,
    or anything speaking the Arrow PyCapsule stream protocol."""
    import pyarrow as pa

    if isinstance(result, pa.Table):
        return result
    if isinstance(result, pa.RecordBatchReader):
        return result.read_all()
    module = type(result).__module__.split(".", 1)[0]
    if module == "duckdb" and hasattr(result, "to_arrow_table"):
        table = result.to_arrow_table()
    elif module == "pandas":
        # The index is pandas bookkeeping, not a column of the product.
        table = pa.Table.from_pandas(result, preserve_index=False)
    elif module == "polars" and hasattr(result, "to_arrow"):
        table = result.to_arrow()
    elif hasattr(result, "__arrow_c_stream__"):
        table = pa.table(result)
    else:
        raise BuildError(
            f"Python transform {transform}() returned {type(result).__qualname__}; return a pyarrow.Table, "
            "a DuckDB relation, or a Polars or pandas DataFrame"
        )
    if not isinstance(table, pa.Table):  # pragma: no cover - defensive against odd converters
        raise BuildError(f"Python transform {transform}() result did not convert to an Arrow table")
    return table
