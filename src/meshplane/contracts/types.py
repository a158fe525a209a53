"""Whether an Arrow column type satisfies a contract's ``logicalType`` and ``physicalType``.

The physical type is read with sqlglot in DuckDB's dialect. A column is compatible when every value
of its Arrow type fits the declared type without loss (``int32`` data satisfies ``BIGINT``; ``int64``
data does not satisfy ``INTEGER``). Unknown declared types are incompatible (fail closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

if TYPE_CHECKING:  # imported where used: `check` compiles contracts without loading pyarrow
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["logical_compatible", "physical_compatible"]

T = exp.DataType.Type

_SIGNED = {T.TINYINT: 8, T.SMALLINT: 16, T.INT: 32, T.BIGINT: 64, T.INT128: 128}
_UNSIGNED = {T.UTINYINT: 8, T.USMALLINT: 16, T.UINT: 32, T.UBIGINT: 64, T.UINT128: 128}
_STRINGS = {T.VARCHAR, T.TEXT, T.CHAR, T.NCHAR, T.NVARCHAR, T.NAME, T.JSON}


def _is_string(t: pa.DataType) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if pa.types.is_dictionary(t):
        return _is_string(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_list(t: pa.DataType) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    return bool(
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def logical_compatible(arrow_type: pa.DataType, logical: str) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    t = arrow_type
    checks = {
        "string": _is_string,
        "integer": pa.types.is_integer,
        "number": lambda x: pa.types.is_integer(x) or pa.types.is_floating(x) or pa.types.is_decimal(x),
        "boolean": pa.types.is_boolean,
        "date": pa.types.is_date,
        "timestamp": pa.types.is_timestamp,
        "time": pa.types.is_time,
        # an ODCS object is a STRUCT (named fields) or a MAP (keys as data; its properties name known keys)
        "object": lambda x: pa.types.is_struct(x) or pa.types.is_map(x),
        "array": _is_list,
        "map": pa.types.is_map,
        "vector": _is_list,
    }
    check = checks.get(logical)
    return check is not None and bool(check(t))


def _integer_fits(t: pa.DataType, declared: exp.DType) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if not pa.types.is_integer(t):
        return False
    width: int = t.bit_width
    signed = bool(pa.types.is_signed_integer(t))
    if declared in _SIGNED:
        return width <= _SIGNED[declared] if signed else width < _SIGNED[declared]
    return (not signed) and width <= _UNSIGNED[declared]


def _decimal_fits(t: pa.DataType, declared: exp.DataType) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    params = [int(p.name) for p in declared.expressions if p.name.isdigit()]
    precision, scale = (params + [18, 3][len(params) :])[:2] if params else (18, 3)
    if pa.types.is_decimal(t):
        return bool(t.scale <= scale and t.precision - t.scale <= precision - scale)
    if pa.types.is_integer(t):
        digits = {8: 3, 16: 5, 32: 10, 64: 19}.get(t.bit_width, 39)
        return digits <= precision - scale
    return False


def physical_compatible(arrow_type: pa.DataType, physical: str) -> bool:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    try:
        declared = exp.DataType.build(physical, dialect="duckdb")
    except (ParseError, ValueError, sqlglot.errors.SqlglotError):
        return False
    kind = declared.this
    t = arrow_type
    if kind in _SIGNED or kind in _UNSIGNED:
        return _integer_fits(t, kind)
    if kind in _STRINGS:
        return _is_string(t)
    if kind in (T.FLOAT, T.DOUBLE):
        if kind is T.FLOAT:
            return bool(pa.types.is_float16(t) or pa.types.is_float32(t))
        return bool(pa.types.is_floating(t))
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        return _decimal_fits(t, declared)
    if kind is T.BOOLEAN:
        return bool(pa.types.is_boolean(t))
    if kind is T.DATE:
        return bool(pa.types.is_date(t))
    if kind in (T.TIMESTAMP, T.DATETIME, T.TIMESTAMP_S, T.TIMESTAMP_MS, T.TIMESTAMPNTZ):
        return bool(pa.types.is_timestamp(t) and t.tz is None)
    if kind in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ):
        return bool(pa.types.is_timestamp(t) and t.tz is not None)
    if kind in (T.TIME, T.TIMETZ):
        return bool(pa.types.is_time(t))
    if kind in (T.VARBINARY, T.BINARY, T.BLOB):
        return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t))
    if kind is T.UUID:
        return bool(
            _is_string(t)
            or (pa.types.is_fixed_size_binary(t) and t.byte_width == 16)
            or (isinstance(t, pa.ExtensionType) and t.extension_name.endswith("uuid"))
        )
    if kind in (T.ARRAY, T.LIST):
        return _is_list(t)
    if kind is T.STRUCT:
        return bool(pa.types.is_struct(t))
    if kind is T.MAP:
        return bool(pa.types.is_map(t))
    return False
