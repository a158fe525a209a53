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

__all__ = ["REDACTED", "has_map", "has_struct", "mask_column", "mask_expression"]

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
    raw: exp.Expr,
    column_type: str,
    kind: MaskKind | None,
    nested: Mapping[str, MaskKind],
    key: str,
    maps: Mapping[str, frozenset[str]] | None = None,
) -> exp.Expr:
    """``raw`` as a consumer sees it: exactly the fields ``column_type`` declares, with masks applied.

    ``kind`` masks the whole value; ``nested`` maps a field path below this column (``email``, ``geo.note``;
    lower case) to its mask. The path of a field inside the elements of a LIST of STRUCT skips the list
    (``sessions.email`` is the ``email`` field of every element of ``sessions``). A value whose type holds a
    STRUCT is always rebuilt field by field from ``column_type``, so fields the type does not name (fields the
    contract does not declare) never reach the consumer, and each field gets its own mask; a ``partial`` mask
    on a STRUCT or a LIST masks each of its fields or elements, recursively. Any other mask replaces the whole
    value.

    A MAP's keys are data, not type: ``maps`` maps the path of each MAP the consumer may see (``""`` for the
    column itself, ``profile.attributes`` below it) to the keys the contract declares (lower case). The MAP is
    rebuilt from its declared keys' entries only, each value masked as its key's property says (``nested``:
    ``attributes.email`` is the ``email`` key's mask); a MAP whose path is not listed shows no entry at all
    (NULL). ``maps=None`` (an owner's read) keeps every key.
    """
    return _masked(raw, column_type, kind, nested, key, 0, maps)


def has_struct(column_type: str) -> bool:
    """Whether a value of ``column_type`` holds a STRUCT (itself, or inside a LIST)."""
    data_type = _type_cached(column_type)
    return any(node.this is exp.DataType.Type.STRUCT for node in data_type.find_all(exp.DataType))


def has_map(column_type: str) -> bool:
    """Whether a value of ``column_type`` holds a MAP (itself, or inside a LIST or a STRUCT)."""
    data_type = _type_cached(column_type)
    return any(node.this is exp.DataType.Type.MAP for node in data_type.find_all(exp.DataType))


def _masked(
    raw: exp.Expr,
    column_type: str,
    kind: MaskKind | None,
    nested: Mapping[str, MaskKind],
    key: str,
    depth: int,
    maps: Mapping[str, frozenset[str]] | None,
) -> exp.Expr:
    if kind is not None and kind is not MaskKind.PARTIAL:
        return mask_expression(kind, raw, column_type, key)
    data_type = _type_cached(column_type)
    element = _list_element(data_type)
    if element is not None and (kind is not None or nested or has_struct(element) or maps is not None):
        # each element as its own value: the lambda's parameter is named per depth, so nested lists never
        # shadow an outer element, and it only ever refers to its own element
        name = f"__mesh_e{depth}"
        body = _masked(exp.column(name, quoted=True), element, kind, nested, key, depth + 1, maps)
        lam = exp.Lambda(this=body, expressions=[exp.to_identifier(name, quoted=True)])
        return _call("list_transform", raw, lam)
    if data_type.this is exp.DataType.Type.MAP and len(data_type.expressions) == 2:
        # an owner's read (maps None) keeps every key; a MAP whose path is not listed keeps none
        return _map(raw, data_type, kind, nested, key, depth, None if maps is None else maps.get("", frozenset()))
    fields = _struct_fields(column_type)
    if fields is None:
        return raw if kind is None else mask_expression(kind, raw, column_type, key)
    packed = []
    for name, field_type in fields:
        lowered = name.lower()
        below = {path[len(lowered) + 1 :]: k for path, k in nested.items() if path.startswith(lowered + ".")}
        field_maps = None if maps is None else {
            "" if path == lowered else path[len(lowered) + 1 :]: keys
            for path, keys in maps.items() if path == lowered or path.startswith(lowered + ".")
        }  # fmt: skip
        field_kind = nested.get(lowered) or kind
        value = _call("struct_extract", raw.copy(), exp.Literal.string(name))
        packed.append(exp.PropertyEQ(this=exp.to_identifier(name, quoted=True),
                                     expression=_masked(value, field_type, field_kind, below, key, depth,
                                                        field_maps)))  # fmt: skip
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=raw.copy(), expression=exp.Null()), true=exp.Null())],
        default=_call("struct_pack", *packed),
    )


def _map(raw: exp.Expr, data_type: exp.DataType, kind: MaskKind | None, nested: Mapping[str, MaskKind], key: str,
         depth: int, declared: frozenset[str] | None) -> exp.Expr:  # fmt: skip
    """A MAP rebuilt from the entries of its declared keys (all of them when ``declared`` is None), each value
    masked by its key's mask (or the MAP's ``partial``); a MAP with no declared keys is NULL."""
    value_type = data_type.expressions[1].sql("duckdb")
    if declared is not None and not declared:
        return exp.Cast(this=exp.Null(), to=data_type.copy())
    name = f"__mesh_m{depth}"
    entry = exp.column(name, quoted=True)
    entry_key = _call("struct_extract", entry.copy(), exp.Literal.string("key"))
    entry_value = _call("struct_extract", entry.copy(), exp.Literal.string("value"))
    lowered = _call("lower", exp.Cast(this=entry_key.copy(), to=exp.DataType.build("VARCHAR")))
    masked_keys = {k: m for k, m in nested.items() if "." not in k and (declared is None or k in declared)}
    textual = value_type.upper() in ("VARCHAR", "TEXT", "STRING")
    # hash, redact and partial give text: then every value of the MAP is text, masked or not
    as_text = not textual and any(m is not MaskKind.NULL for m in (*masked_keys.values(), *([kind] if kind else [])))

    def shown(mask: MaskKind | None) -> exp.Expr:
        value = entry_value.copy()
        if mask is not None:
            value = mask_expression(mask, value, value_type, key) if mask is not MaskKind.PARTIAL else _partial(value)
        if as_text and (mask is None or mask is MaskKind.NULL):
            value = exp.Cast(this=value, to=exp.DataType.build("VARCHAR"))
        return value

    value: exp.Expr = shown(kind)
    if masked_keys:
        value = exp.Case(
            ifs=[exp.If(this=exp.EQ(this=lowered.copy(), expression=exp.Literal.string(k)), true=shown(m))
                 for k, m in sorted(masked_keys.items())],
            default=value,
        )  # fmt: skip

    def over(body: exp.Expr) -> exp.Lambda:  # the lambda's parameter is named per depth, like a LIST's
        return exp.Lambda(this=body, expressions=[exp.to_identifier(name, quoted=True)])

    entries: exp.Expr = _call("map_entries", raw.copy())
    if declared is not None:
        keep = exp.In(this=lowered.copy(), expressions=[exp.Literal.string(k) for k in sorted(declared)])
        entries = _call("list_filter", entries, over(keep))
    pair = _call("struct_pack", exp.PropertyEQ(this=exp.to_identifier("key", quoted=True), expression=entry_key),
                 exp.PropertyEQ(this=exp.to_identifier("value", quoted=True), expression=value))  # fmt: skip
    rebuilt = _call("map_from_entries", _call("list_transform", entries, over(pair)))
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=raw.copy(), expression=exp.Null()), true=exp.Null())],
        default=rebuilt,
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
