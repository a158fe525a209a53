"""Column masks as sqlglot expressions over a raw column.

Each builder takes the raw column expression and returns the expression that replaces it in the port's
subquery; the result is aliased back to the column's name by the rewrite, so no later clause of the
consumer's query can see the raw value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from sqlglot import exp

from meshplane.access.query_ports import MaskKind
from meshplane.errors import QueryRejected

__all__ = ["REDACTED", "has_struct", "mask_column", "mask_expression"]

REDACTED = "***"
_PARTIAL_MIN_LENGTH = 8


def mask_expression(kind: MaskKind, raw: exp.Expr, column_type: str, key: str) -> exp.Expr:
    """The masked value of ``raw`` (of DuckDB type ``column_type``) for a consumer holding ``key``."""
    if kind is MaskKind.HASH:
        return _call("sha256", exp.DPipe(this=exp.Literal.string(key), expression=_text(raw), safe=False))
    if kind is MaskKind.REDACT:
        return exp.Literal.string(REDACTED)
    if kind is MaskKind.NULL:
        return exp.Cast(this=exp.Null(), to=_data_type(column_type))
    if kind is MaskKind.PARTIAL:
        return _partial(raw)
    raise QueryRejected(f"unknown mask kind {kind!r}")  # pragma: no cover - MaskKind is closed


def mask_column(
    raw: exp.Expr, column_type: str, kind: MaskKind | None, nested: Mapping[str, MaskKind], key: str
) -> exp.Expr:
    """``raw`` as a consumer sees it: exactly the fields ``column_type`` declares, with masks applied.

    ``kind`` masks the whole value; ``nested`` maps a field path below this column (``email``, ``geo.note``;
    lower case) to its mask. The path of a field inside the elements of a LIST of STRUCT skips the list
    (``sessions.email`` is the ``email`` field of every element of ``sessions``). A value whose type holds a
    STRUCT is always rebuilt field by field from ``column_type``, so fields the type does not name (fields the
    contract does not declare) never reach the consumer, and each field gets its own mask; a ``partial`` mask
    on a STRUCT or a LIST masks each of its fields or elements, recursively. Any other mask replaces the whole
    value.
    """
    return _masked(raw, column_type, kind, nested, key, 0)


def has_struct(column_type: str) -> bool:
    """Whether a value of ``column_type`` holds a STRUCT (itself, or inside a LIST)."""
    data_type = _type_cached(column_type)
    return any(node.this is exp.DataType.Type.STRUCT for node in data_type.find_all(exp.DataType))


def _masked(
    raw: exp.Expr, column_type: str, kind: MaskKind | None, nested: Mapping[str, MaskKind], key: str, depth: int
) -> exp.Expr:
    if kind is not None and kind is not MaskKind.PARTIAL:
        return mask_expression(kind, raw, column_type, key)
    data_type = _type_cached(column_type)
    element = _list_element(data_type)
    if element is not None and (kind is not None or nested or has_struct(element)):
        # each element as its own value: the lambda's parameter is named per depth, so nested lists never
        # shadow an outer element, and it only ever refers to its own element
        name = f"__mesh_e{depth}"
        body = _masked(exp.column(name, quoted=True), element, kind, nested, key, depth + 1)
        lam = exp.Lambda(this=body, expressions=[exp.to_identifier(name, quoted=True)])
        return _call("list_transform", raw, lam)
    fields = _struct_fields(column_type)
    if fields is None:
        return raw if kind is None else mask_expression(kind, raw, column_type, key)
    packed = []
    for name, field_type in fields:
        lowered = name.lower()
        below = {path[len(lowered) + 1 :]: k for path, k in nested.items() if path.startswith(lowered + ".")}
        field_kind = nested.get(lowered) or kind
        value = _call("struct_extract", raw.copy(), exp.Literal.string(name))
        packed.append(exp.PropertyEQ(this=exp.to_identifier(name, quoted=True),
                                     expression=_masked(value, field_type, field_kind, below, key, depth)))  # fmt: skip
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=raw.copy(), expression=exp.Null()), true=exp.Null())],
        default=_call("struct_pack", *packed),
    )


def _list_element(data_type: exp.DataType) -> str | None:
    """The DuckDB type of a LIST's (or fixed-size ARRAY's) elements; None for any other type."""
    if data_type.this not in (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST) or not data_type.expressions:
        return None
    inner = data_type.expressions[0]
    return inner.sql("duckdb") if isinstance(inner, exp.DataType) else None


def _struct_fields(column_type: str) -> list[tuple[str, str]] | None:
    """The (name, DuckDB type) of each field of a STRUCT type; None for any other type."""
    data_type = _type_cached(column_type)
    if data_type.this is not exp.DataType.Type.STRUCT:
        return None
    fields = []
    for field in data_type.expressions:
        if not isinstance(field, exp.ColumnDef) or field.args.get("kind") is None:
            raise QueryRejected(f"unsupported STRUCT type {column_type!r}")
        fields.append((field.name, field.args["kind"].sql("duckdb")))
    return fields


def _partial(raw: exp.Expr) -> exp.Expr:
    text = _text(raw)
    domain = _call("regexp_extract", text.copy(), exp.Literal.string("@[^@]*$"))
    return exp.Case(
        ifs=[
            exp.If(this=exp.Is(this=raw.copy(), expression=exp.Null()), true=exp.Null()),
            exp.If(
                this=_call("contains", text.copy(), exp.Literal.string("@")),
                true=exp.DPipe(this=exp.Literal.string(REDACTED), expression=domain, safe=False),
            ),
            exp.If(
                this=exp.GTE(this=_call("length", text.copy()), expression=exp.Literal.number(_PARTIAL_MIN_LENGTH)),
                true=exp.DPipe(
                    this=exp.Literal.string(REDACTED),
                    expression=_call("right", text.copy(), exp.Literal.number(4)),
                    safe=False,
                ),
            ),
        ],
        default=exp.Literal.string(REDACTED),
    )


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _text(raw: exp.Expr) -> exp.Expr:
    return exp.Cast(this=raw.copy(), to=exp.DataType.build("VARCHAR"))


@lru_cache(maxsize=512)
def _type_cached(column_type: str) -> exp.DataType:
    try:
        return exp.DataType.build(column_type, dialect="duckdb")
    except Exception:  # sqlglot raises ParseError or ValueError for an unknown type
        raise QueryRejected(f"unknown column type {column_type!r}") from None


def _data_type(column_type: str) -> exp.DataType:
    return _type_cached(column_type).copy()
