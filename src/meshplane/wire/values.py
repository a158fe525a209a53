"""PostgreSQL types for Arrow columns: type OIDs, text and binary encoding, parameter decoding.

Result rows are encoded a whole record batch at a time: each column becomes PostgreSQL's text form with
Arrow compute kernels, then :func:`data_rows` lays every row's DataRow message out in one buffer with NumPy
(no Python loop per row). Binary format, lists (PostgreSQL arrays), structs and maps (JSON) take a per-value
path. Timestamps with a time zone are sent in UTC (the session's ``TimeZone`` is ``UTC``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from meshplane.wire.messages import FieldSpec

__all__ = ["PgType", "decode_parameter", "encode_batch", "field_specs", "pg_type", "type_name"]


@dataclass(frozen=True, slots=True)
class PgType:
    oid: int
    name: str
    size: int = -1
    modifier: int = -1


BOOL, BYTEA, INT8, INT2, INT4, TEXT, JSON = (PgType(16, "bool", 1), PgType(17, "bytea"), PgType(20, "int8", 8),
                                             PgType(21, "int2", 2), PgType(23, "int4", 4), PgType(25, "text"),
                                             PgType(114, "json"))  # fmt: skip
FLOAT4, FLOAT8, VARCHAR = PgType(700, "float4", 4), PgType(701, "float8", 8), PgType(1043, "varchar")
DATE, TIME, TIMESTAMP, TIMESTAMPTZ = (PgType(1082, "date", 4), PgType(1083, "time", 8), PgType(1114, "timestamp", 8),
                                      PgType(1184, "timestamptz", 8))  # fmt: skip
INTERVAL, NUMERIC, UUID = PgType(1186, "interval", 16), PgType(1700, "numeric"), PgType(2950, "uuid", 16)
_ARRAYS = {16: 1000, 17: 1001, 20: 1016, 21: 1005, 23: 1007, 25: 1009, 700: 1021, 701: 1022, 1043: 1015,
           1082: 1182, 1083: 1183, 1114: 1115, 1184: 1185, 1186: 1187, 1700: 1231, 114: 199, 2950: 2951}  # fmt: skip
_NAMES = {t.oid: t.name for t in (BOOL, BYTEA, INT8, INT2, INT4, TEXT, JSON, FLOAT4, FLOAT8, VARCHAR, DATE, TIME,
                                  TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID)}  # fmt: skip


def pg_type(arrow_type: pa.DataType) -> PgType:
    """The PostgreSQL type a column of ``arrow_type`` is sent as."""
    t = pa.types
    if t.is_boolean(arrow_type):
        return BOOL
    if t.is_int8(arrow_type) or t.is_int16(arrow_type) or t.is_uint8(arrow_type):
        return INT2
    if t.is_int32(arrow_type) or t.is_uint16(arrow_type):
        return INT4
    if t.is_int64(arrow_type) or t.is_uint32(arrow_type):
        return INT8
    if t.is_uint64(arrow_type):
        return NUMERIC
    if t.is_float16(arrow_type) or t.is_float32(arrow_type):
        return FLOAT4
    if t.is_float64(arrow_type):
        return FLOAT8
    if t.is_decimal(arrow_type):
        return PgType(NUMERIC.oid, "numeric", -1, ((arrow_type.precision << 16) | arrow_type.scale) + 4)
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type):
        return VARCHAR
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
        return UUID if getattr(arrow_type, "extension_name", "") == "arrow.uuid" else BYTEA
    if t.is_date(arrow_type):
        return DATE
    if t.is_time(arrow_type):
        return TIME
    if t.is_timestamp(arrow_type):
        return TIMESTAMPTZ if arrow_type.tz else TIMESTAMP
    if t.is_interval(arrow_type) or t.is_duration(arrow_type):
        return INTERVAL
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        inner = pg_type(arrow_type.value_type)
        if inner.oid in _ARRAYS and not t.is_nested(arrow_type.value_type):
            return PgType(_ARRAYS[inner.oid], "_" + inner.name)
        return JSON
    if isinstance(arrow_type, pa.ExtensionType):
        return pg_type(arrow_type.storage_type)
    if t.is_null(arrow_type):
        return TEXT
    return JSON  # structs, maps, unions: their JSON text


def type_name(oid: int) -> str:
    return _NAMES.get(oid, "text")


def field_specs(schema: pa.Schema, formats: Sequence[int] = ()) -> list[FieldSpec]:
    """RowDescription fields of ``schema``; ``formats`` as Bind gives them (none: text, one: all, else each)."""
    specs = []
    for i, arrow_field in enumerate(schema):
        kind = pg_type(arrow_field.type)
        fmt = _format_of(formats, i)
        specs.append(FieldSpec(arrow_field.name, kind.oid, kind.size, kind.modifier, fmt))
    return specs


def _format_of(formats: Sequence[int], index: int) -> int:
    if not formats:
        return 0
    return formats[0] if len(formats) == 1 else formats[index]


# --- text form ------------------------------------------------------------------------------------------


def _text_column(column: pa.Array) -> pa.Array:
    """``column`` as a string array holding PostgreSQL's text form of each value (nulls stay null)."""
    kind = column.type
    t = pa.types
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if t.is_boolean(kind):
        return pc.if_else(column, "t", "f")
    if t.is_integer(kind) or t.is_decimal(kind) or t.is_date(kind) or t.is_time(kind):
        return pc.cast(column, pa.string())
    if t.is_floating(kind):
        text = pc.cast(column, pa.string())
        text = pc.replace_substring(text, "inf", "Infinity")
        return pc.replace_substring(pc.replace_substring(text, "nan", "NaN"), "-NaN", "NaN")
    if t.is_string(kind):
        return column
    if t.is_large_string(kind) or t.is_string_view(kind):
        return pc.cast(column, pa.string())
    if t.is_timestamp(kind):
        # the cast writes ISO 8601 with a space (fast); a zoned value is written in UTC with +00
        naive = pc.cast(column.view(pa.timestamp(kind.unit)), pa.string())
        return pc.binary_join_element_wise(naive, "+00", "") if kind.tz else naive
    return pa.array([None if v is None else _text_value(v, kind) for v in column.to_pylist()], pa.string())


def _text_value(value: Any, kind: pa.DataType) -> str:
    t = pa.types
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        if pg_type(kind).oid == JSON.oid:
            return json.dumps(value, default=str)
        return "{" + ",".join(_array_item(v, kind.value_type) for v in value) + "}"
    if isinstance(value, bytes):
        if pg_type(kind).oid == UUID.oid:
            return str(__import__("uuid").UUID(bytes=value))
        return "\\x" + value.hex()
    if isinstance(value, dt.timedelta):
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds"
    if isinstance(value, dt.datetime):
        return _text_value_datetime(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if t.is_map(kind):
        return json.dumps(dict(value), default=str)
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _text_value_datetime(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _array_item(value: Any, kind: pa.DataType) -> str:
    if value is None:
        return "NULL"
    text = _text_value(value, kind) if not isinstance(value, str) else value
    if isinstance(value, bool):
        text = "t" if value else "f"
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        return str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def data_rows(columns: Sequence[pa.Array], count: int) -> bytes:
    """DataRow messages for ``count`` rows whose fields are the string (or binary) ``columns``, in one buffer.

    Built with Arrow's element-wise binary kernels (length prefixes from NumPy): no Python loop per row.
    """
    if count == 0:
        return b""
    fields = []
    for column in columns:
        column = pc.cast(column, pa.binary()) if not pa.types.is_binary(column.type) else column
        lengths = pc.fill_null(pc.binary_length(column), -1).to_numpy(zero_copy_only=False).astype(np.int32)
        prefixed = pc.binary_join_element_wise(_int_column(lengths, 4), pc.fill_null(column, b""), b"")
        fields.append(prefixed)
    body = pc.binary_join_element_wise(*fields, b"") if len(fields) > 1 else fields[0]
    sizes = pc.binary_length(body).to_numpy(zero_copy_only=False).astype(np.int32) + 6
    head = pc.binary_join_element_wise(pa.array([b"D"] * 1, pa.binary()).take(np.zeros(count, dtype=np.int32)),
                                       _int_column(sizes, 4), _int_column(np.full(count, len(columns)), 2),
                                       b"")  # fmt: skip
    rows = pc.binary_join_element_wise(head, body, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + count + 1]
    data = rows.buffers()[2]
    return data.to_pybytes()[int(offsets[0]) : int(offsets[-1])] if data is not None else b""


def _int_column(values: np.ndarray[Any, Any], width: int) -> pa.Array:
    """Big-endian ``width``-byte integers as a binary column."""
    raw = np.ascontiguousarray(values.astype(">i4" if width == 4 else ">i2"))
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(raw), [None, pa.py_buffer(raw.tobytes())])
    return pc.cast(fixed, pa.binary())


# --- binary form ----------------------------------------------------------------------------------------

_EPOCH_DATE = dt.date(2000, 1, 1)
_EPOCH = dt.datetime(2000, 1, 1)
_EPOCH_TZ = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _binary_value(value: Any, kind: PgType) -> bytes:
    oid = kind.oid
    if oid == BOOL.oid:
        return b"\x01" if value else b"\x00"
    if oid == INT2.oid:
        return struct.pack("!h", value)
    if oid == INT4.oid:
        return struct.pack("!i", value)
    if oid == INT8.oid:
        return struct.pack("!q", value)
    if oid == FLOAT4.oid:
        return struct.pack("!f", value)
    if oid == FLOAT8.oid:
        return struct.pack("!d", value)
    if oid == DATE.oid:
        return struct.pack("!i", (value - _EPOCH_DATE).days)
    if oid == TIMESTAMP.oid:
        return struct.pack("!q", _micros(value - _EPOCH))
    if oid == TIMESTAMPTZ.oid:
        return struct.pack("!q", _micros(value - _EPOCH_TZ))
    if oid == TIME.oid:
        return struct.pack("!q", ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond)
    if oid == NUMERIC.oid:
        return _numeric_binary(decimal.Decimal(value))
    if oid == BYTEA.oid:
        return bytes(value)
    if oid == UUID.oid:
        return bytes(value)
    if oid in (TEXT.oid, VARCHAR.oid):
        return str(value).encode("utf-8")
    if oid == JSON.oid:
        return json.dumps(value, default=str).encode("utf-8")
    raise ValueError(f"binary format is not supported for type {kind.name}")


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _numeric_binary(value: decimal.Decimal) -> bytes:
    if value.is_nan():
        return struct.pack("!hhHh", 0, 0, 0xC000, 0)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    text = "".join(map(str, digits))
    integer, fraction = (text[:exponent], text[exponent:]) if exponent < 0 else (text + "0" * exponent, "")
    integer = integer.lstrip("0") or ""
    integer = "0" * ((4 - len(integer) % 4) % 4) + integer
    fraction = (fraction.rjust(scale, "0")) if exponent < 0 else ""
    fraction += "0" * ((4 - len(fraction) % 4) % 4)
    groups = [int(integer[i : i + 4]) for i in range(0, len(integer), 4)]
    weight = len(groups) - 1
    groups += [int(fraction[i : i + 4]) for i in range(0, len(fraction), 4)]
    while groups and groups[-1] == 0:
        groups.pop()
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    if not groups:
        weight = 0
    return struct.pack(f"!hhHh{len(groups)}H", len(groups), weight, 0x4000 if sign else 0, scale, *groups)


def encode_batch(batch: pa.RecordBatch, formats: Sequence[int] = ()) -> bytes:
    """The DataRow messages of one record batch, in the formats Bind asked for."""
    if batch.num_rows == 0:
        return b""
    if not any(formats):
        return data_rows([_text_column(column) for column in batch.columns], batch.num_rows)
    columns: list[pa.Array] = []
    for i, column in enumerate(batch.columns):
        if _format_of(formats, i) == 0:
            columns.append(_text_column(column))
            continue
        kind = pg_type(column.type)
        values = column.to_pylist()
        columns.append(pa.array([None if v is None else _binary_value(v, kind) for v in values], pa.binary()))
    return data_rows(columns, batch.num_rows)


def copy_binary_rows(batch: pa.RecordBatch) -> list[bytes]:
    """``batch`` as rows of PostgreSQL's binary COPY format (without the file header), one item per row."""
    kinds = [pg_type(column.type) for column in batch.columns]
    values = [column.to_pylist() for column in batch.columns]
    rows = []
    for row in range(batch.num_rows):
        out = bytearray(struct.pack("!h", len(kinds)))
        for kind, column in zip(kinds, values, strict=True):
            value = column[row]
            if value is None:
                out += struct.pack("!i", -1)
            else:
                encoded = _binary_value(value, kind) if kind.oid in _BINARY else _text_value(value, pa.null()).encode()
                out += struct.pack("!i", len(encoded)) + encoded
        rows.append(bytes(out))
    return rows


_BINARY = frozenset({16, 21, 23, 20, 700, 701, 1082, 1114, 1184, 1083, 1700, 17, 2950, 25, 1043, 114})


# --- parameters -----------------------------------------------------------------------------------------


def decode_parameter(raw: bytes | None, oid: int, fmt: int) -> Any:
    """A Bind parameter as a Python value (text form stays text unless its type says otherwise)."""
    if raw is None:
        return None
    if fmt == 0:
        text = raw.decode("utf-8")
        if oid in (INT2.oid, INT4.oid, INT8.oid):
            return int(text)
        if oid in (FLOAT4.oid, FLOAT8.oid):
            return float(text)
        if oid == NUMERIC.oid:
            return decimal.Decimal(text)
        if oid == BOOL.oid:
            return text.lower() in ("t", "true", "1", "yes", "on")
        return text
    if oid == INT2.oid:
        return struct.unpack("!h", raw)[0]
    if oid == INT4.oid:
        return struct.unpack("!i", raw)[0]
    if oid == INT8.oid:
        return struct.unpack("!q", raw)[0]
    if oid == FLOAT4.oid:
        return struct.unpack("!f", raw)[0]
    if oid == FLOAT8.oid:
        return struct.unpack("!d", raw)[0]
    if oid == BOOL.oid:
        return raw != b"\x00"
    if oid == DATE.oid:
        return _EPOCH_DATE + dt.timedelta(days=struct.unpack("!i", raw)[0])
    if oid == TIMESTAMP.oid:
        return _EPOCH + dt.timedelta(microseconds=struct.unpack("!q", raw)[0])
    if oid == TIMESTAMPTZ.oid:
        return _EPOCH_TZ + dt.timedelta(microseconds=struct.unpack("!q", raw)[0])
    if oid == NUMERIC.oid:
        return _numeric_from_binary(raw)
    if oid in (TEXT.oid, VARCHAR.oid, 0, 1042, 19):
        return raw.decode("utf-8")
    raise ValueError(f"binary parameters of type {type_name(oid)} (oid {oid}) are not supported; send them as text")


def _numeric_from_binary(raw: bytes) -> decimal.Decimal:
    count, weight, sign, scale = struct.unpack_from("!hhHh", raw)
    groups = struct.unpack_from(f"!{count}H", raw, 8)
    if sign == 0xC000:
        return decimal.Decimal("NaN")
    value = decimal.Decimal(0)
    for i, group in enumerate(groups):
        value += decimal.Decimal(group) * (decimal.Decimal(10000) ** (weight - i))
    value = value.quantize(decimal.Decimal(1).scaleb(-scale)) if scale else value
    return -value if sign == 0x4000 else value
