"""Classify the changes between two versions of an ODCS contract (pure: no engine, no I/O).

Every change is judged by **consumer safety**: would a consumer that works against the old contract
still work against the new one?

- breaking: a column or table removed or renamed, a type narrowed or changed, ``required`` dropped
  (consumers may now see nulls), ``unique`` or a primary key dropped or changed, enum values removed,
  a quality rule loosened or removed, an SLO weakened or removed, a classification raised (consumers
  lose access), a relationship removed, status set to ``retired``.
- additive: new columns (optional or required), a type widened (``INTEGER`` → ``BIGINT``),
  ``required``/``unique`` added, enum values added, a quality rule tightened or added, an SLO
  strengthened or added, a classification lowered.
- cosmetic: descriptions, tags, examples, version, other status changes, custom properties.

So a *tightened* quality rule is additive (consumers get a stronger guarantee; the producer's
build enforces it) and a *loosened* one is breaking. ``requires_major_bump`` is the gate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import semver
from open_data_contract_standard.model import (
    DataQuality,
    OpenDataContractStandard,
    SchemaObject,
    SchemaProperty,
    ServiceLevelAgreementProperty,
)

from meshplane.types import TIME_UNIT_SECONDS

__all__ = ["Change", "ChangeKind", "ContractDiff", "diff_contracts", "requires_major_bump"]


class ChangeKind(StrEnum):
    BREAKING = "breaking"
    ADDITIVE = "additive"
    COSMETIC = "cosmetic"


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    code: str
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class ContractDiff:
    changes: tuple[Change, ...]

    def of(self, kind: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind is kind)

    @property
    def breaking(self) -> tuple[Change, ...]:
        return self.of(ChangeKind.BREAKING)

    @property
    def additive(self) -> tuple[Change, ...]:
        return self.of(ChangeKind.ADDITIVE)

    @property
    def cosmetic(self) -> tuple[Change, ...]:
        return self.of(ChangeKind.COSMETIC)

    @property
    def is_breaking(self) -> bool:
        return bool(self.breaking)


B, A, C = ChangeKind.BREAKING, ChangeKind.ADDITIVE, ChangeKind.COSMETIC
CLASSIFICATION_ORDER = ("public", "internal", "confidential", "pii", "restricted")
_INT_WIDTH = {
    "TINYINT": 8,
    "INT1": 8,
    "SMALLINT": 16,
    "INT2": 16,
    "SHORT": 16,
    "INTEGER": 32,
    "INT": 32,
    "INT4": 32,
    "SIGNED": 32,
    "BIGINT": 64,
    "INT8": 64,
    "LONG": 64,
    "HUGEINT": 128,
    "INT128": 128,
}
_FLOAT_WIDTH = {"REAL": 32, "FLOAT4": 32, "FLOAT": 32, "DOUBLE": 64, "FLOAT8": 64}
_STRINGS = {"VARCHAR", "STRING", "TEXT", "CHAR", "BPCHAR", "NVARCHAR"}
_COSMETIC_FIELDS = (
    "description",
    "businessName",
    "tags",
    "examples",
    "authoritativeDefinitions",
    "customProperties",
    "synonyms",
    "deprecated",
    "criticalDataElement",
    "semanticType",
    "transformLogic",
    "transformDescription",
    "transformSourceObjects",
    "partitioned",
    "partitionKeyPosition",
    "encryptedName",
    "id",
)


def diff_contracts(old: OpenDataContractStandard, new: OpenDataContractStandard) -> ContractDiff:
    """Every change from ``old`` to ``new``, with its kind, a JSON path and a message."""
    out: list[Change] = []
    for field in ("version", "status"):
        before, after = getattr(old, field), getattr(new, field)
        if before != after:
            kind = B if field == "status" and after == "retired" else C
            out.append(Change(kind, f"{field}_changed", field, f"{field} changed from {before} to {after}"))
    for field in (
        "description",
        "tags",
        "team",
        "support",
        "roles",
        "servers",
        "customProperties",
        "authoritativeDefinitions",
        "name",
        "tenant",
        "domain",
        "dataProduct",
        "price",
        "apiVersion",
        "contractCreatedTs",
        "context",
    ):
        if _dump(getattr(old, field)) != _dump(getattr(new, field)):
            out.append(Change(C, f"{field}_changed", field, f"{field} changed"))
    if old.id != new.id:
        out.append(Change(B, "id_changed", "id", f"contract id changed from {old.id} to {new.id}"))
    _tables(old.schema_ or [], new.schema_ or [], out)
    _slas(old.slaProperties or [], new.slaProperties or [], out)
    return ContractDiff(tuple(out))


def requires_major_bump(diff: ContractDiff, old_version: str, new_version: str) -> bool:
    """True when ``diff`` breaks consumers but ``new_version`` is not a new major version of
    ``old_version`` (the gate must block). For 0.y.z versions a minor bump counts as major."""
    if not diff.is_breaking:
        return False
    old, new = semver.Version.parse(old_version), semver.Version.parse(new_version)
    if old.major == 0 and new.major == 0:
        return not new.minor > old.minor
    return not new.major > old.major


def _dump(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True, by_alias=True, mode="json")
    return value


def _columns_signature(obj: SchemaObject) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((p.name or "", _type_text(p)) for p in obj.properties or []))


def _type_text(prop: SchemaProperty) -> str:
    return f"{prop.logicalType or ''}/{(prop.physicalType or '').upper()}"


def _tables(old: Sequence[SchemaObject], new: Sequence[SchemaObject], out: list[Change]) -> None:
    old_by = {o.name: (i, o) for i, o in enumerate(old)}
    new_by = {o.name: (i, o) for i, o in enumerate(new)}
    removed = [n for n in old_by if n not in new_by]
    added = [n for n in new_by if n not in old_by]
    for name in list(removed):
        oi, obj = old_by[name]
        twin = next((a for a in added if _columns_signature(new_by[a][1]) == _columns_signature(obj)), None)
        if twin is not None:
            removed.remove(name)
            added.remove(twin)
            out.append(Change(B, "table_renamed", f"schema[{oi}].name", f"table {name} renamed to {twin}"))
    for name in removed:
        out.append(Change(B, "table_removed", f"schema[{old_by[name][0]}]", f"table {name} removed"))
    for name in added:
        out.append(Change(A, "table_added", f"schema[{new_by[name][0]}]", f"table {name} added"))
    for name, (ni, nobj) in new_by.items():
        if name in old_by:
            _table(old_by[name][1], nobj, f"schema[{ni}]", out)


def _table(old: SchemaObject, new: SchemaObject, path: str, out: list[Change]) -> None:
    name = new.name
    if old.physicalName != new.physicalName:
        out.append(
            Change(
                B,
                "table_renamed",
                f"{path}.physicalName",
                f"table {name} physical name changed from {old.physicalName} to {new.physicalName}",
            )
        )
    for field in (
        "description",
        "businessName",
        "tags",
        "dataGranularityDescription",
        "customProperties",
        "authoritativeDefinitions",
        "physicalType",
        "deprecated",
        "synonyms",
        "context",
    ):
        if _dump(getattr(old, field)) != _dump(getattr(new, field)):
            out.append(Change(C, f"table_{field}_changed", f"{path}.{field}", f"table {name}: {field} changed"))
    _columns(old.properties or [], new.properties or [], path, name or "", out)
    old_pk, new_pk = _primary_key(old), _primary_key(new)
    if old_pk != new_pk:
        kind = A if not old_pk else B
        out.append(
            Change(
                kind,
                "primary_key_changed",
                f"{path}.properties",
                f"table {name}: primary key changed from {list(old_pk)} to {list(new_pk)}",
            )
        )
    _relationships(
        [_dump(r) for r in old.relationships or []],
        [_dump(r) for r in new.relationships or []],
        f"{path}.relationships",
        f"table {name}",
        out,
    )
    _quality(old.quality or [], new.quality or [], f"{path}.quality", f"table {name}", out)


def _primary_key(obj: SchemaObject) -> tuple[str, ...]:
    keyed = [
        (p.primaryKeyPosition if (p.primaryKeyPosition or 0) > 0 else 10_000 + i, p.name or "")
        for i, p in enumerate(obj.properties or [])
        if p.primaryKey
    ]
    return tuple(n for _, n in sorted(keyed))


def _columns(
    old: Sequence[SchemaProperty], new: Sequence[SchemaProperty], path: str, table: str, out: list[Change]
) -> None:
    old_by = {p.name: (i, p) for i, p in enumerate(old)}
    new_by = {p.name: (i, p) for i, p in enumerate(new)}
    removed = [n for n in old_by if n not in new_by]
    added = [n for n in new_by if n not in old_by]
    for name in list(removed):
        oi, prop = old_by[name]
        twin = next((a for a in added if _type_text(new_by[a][1]) == _type_text(prop)), None)
        if twin is not None:
            removed.remove(name)
            added.remove(twin)
            out.append(
                Change(
                    B,
                    "column_renamed",
                    f"{path}.properties[{oi}].name",
                    f"{table}: column {name} renamed to {twin} (removed and added with the same type)",
                )
            )
    for name in removed:
        out.append(
            Change(B, "column_removed", f"{path}.properties[{old_by[name][0]}]", f"{table}: column {name} removed")
        )
    for name in added:
        ni, prop = new_by[name]
        what = "required" if prop.required else "optional"
        out.append(Change(A, "column_added", f"{path}.properties[{ni}]", f"{table}: new {what} column {name}"))
    for name, (ni, nprop) in new_by.items():
        if name in old_by:
            _column(old_by[name][1], nprop, f"{path}.properties[{ni}]", f"{table}.{name}", out)


def _column(old: SchemaProperty, new: SchemaProperty, path: str, where: str, out: list[Change]) -> None:
    if old.logicalType != new.logicalType:
        widened = (old.logicalType, new.logicalType) == ("integer", "number")
        out.append(
            Change(
                A if widened else B,
                "type_widened" if widened else "type_changed",
                f"{path}.logicalType",
                f"{where}: logical type {old.logicalType} -> {new.logicalType}",
            )
        )
    if (old.physicalType or "").upper() != (new.physicalType or "").upper():
        verdict = _physical_change(old.physicalType, new.physicalType)
        code = {A: "type_widened", B: "type_narrowed", C: "type_respelled"}[verdict]
        out.append(
            Change(
                verdict,
                code,
                f"{path}.physicalType",
                f"{where}: physical type {old.physicalType} -> {new.physicalType}",
            )
        )
    if bool(old.required) != bool(new.required):
        if new.required:
            out.append(Change(A, "required_added", f"{path}.required", f"{where}: optional -> required"))
        else:
            out.append(
                Change(
                    B,
                    "required_dropped",
                    f"{path}.required",
                    f"{where}: required -> optional (consumers may now see nulls)",
                )
            )
    if bool(old.unique) != bool(new.unique):
        kind, code = (A, "unique_added") if new.unique else (B, "unique_dropped")
        out.append(Change(kind, code, f"{path}.unique", f"{where}: unique {old.unique} -> {new.unique}"))
    if old.physicalName != new.physicalName:
        out.append(
            Change(
                B,
                "column_renamed",
                f"{path}.physicalName",
                f"{where}: physical name {old.physicalName} -> {new.physicalName}",
            )
        )
    _enum(old, new, path, where, out)
    _classification(old.classification, new.classification, f"{path}.classification", where, out)
    _options(old.logicalTypeOptions or {}, new.logicalTypeOptions or {}, f"{path}.logicalTypeOptions", where, out)
    for field in _COSMETIC_FIELDS:
        if _dump(getattr(old, field)) != _dump(getattr(new, field)):
            out.append(Change(C, f"{field}_changed", f"{path}.{field}", f"{where}: {field} changed"))
    _relationships(
        [_dump(r) for r in old.relationships or []],
        [_dump(r) for r in new.relationships or []],
        f"{path}.relationships",
        where,
        out,
    )
    _quality(old.quality or [], new.quality or [], f"{path}.quality", where, out)


def _enum(old: SchemaProperty, new: SchemaProperty, path: str, where: str, out: list[Change]) -> None:
    before = [e.value for e in old.enum or []]
    after = [e.value for e in new.enum or []]
    if not before and not after:
        return
    if not after:
        out.append(Change(B, "enum_dropped", f"{path}.enum", f"{where}: enum constraint removed"))
        return
    if not before:
        out.append(Change(A, "enum_added", f"{path}.enum", f"{where}: values restricted to {after}"))
        return
    gone = [v for v in before if v not in after]
    new_values = [v for v in after if v not in before]
    if gone:
        out.append(Change(B, "enum_values_removed", f"{path}.enum", f"{where}: enum values removed {gone}"))
    if new_values:
        out.append(Change(A, "enum_values_added", f"{path}.enum", f"{where}: enum values added {new_values}"))
    if not gone and not new_values and _dump(old.enum) != _dump(new.enum):
        out.append(Change(C, "enum_labels_changed", f"{path}.enum", f"{where}: enum labels changed"))


def _classification(old: str | None, new: str | None, path: str, where: str, out: list[Change]) -> None:
    if old == new:
        return
    rank = {c: i for i, c in enumerate(CLASSIFICATION_ORDER)}
    before_text, after_text = old or "unclassified", new or "unclassified"
    before = rank.get((old or "public").lower())
    after = rank.get((new or "public").lower())
    if before is None or after is None:
        out.append(Change(B, "classification_changed", path, f"{where}: classification {before_text} -> {after_text}"))
    elif after > before:
        out.append(
            Change(
                B,
                "classification_raised",
                path,
                f"{where}: classification raised {before_text} -> {after_text} (consumers may lose access)",
            )
        )
    else:
        lowered = f"{where}: classification lowered {before_text} -> {after_text}"
        out.append(Change(A, "classification_lowered", path, lowered))


_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _options(old: dict[str, Any], new: dict[str, Any], path: str, where: str, out: list[Change]) -> None:
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in _LOWER_BOUNDS or key in _UPPER_BOUNDS:
            if after is None:
                kind = B
            elif before is None:
                kind = A
            else:
                tighter = after > before if key in _LOWER_BOUNDS else after < before
                kind = A if tighter else B
        else:
            kind = A if before is None else B
        verb = "tightened" if kind is A else "loosened or changed"
        out.append(
            Change(
                kind,
                f"option_{key}_{'tightened' if kind is A else 'loosened'}",
                f"{path}.{key}",
                f"{where}: {key} {before} -> {after} ({verb})",
            )
        )


def _relationships(old: list[Any], new: list[Any], path: str, where: str, out: list[Change]) -> None:
    for i, rel in enumerate(old):
        if rel not in new:
            out.append(Change(B, "relationship_removed", f"{path}[{i}]", f"{where}: relationship {rel} removed"))
    for i, rel in enumerate(new):
        if rel not in old:
            out.append(Change(A, "relationship_added", f"{path}[{i}]", f"{where}: relationship {rel} added"))


# -- quality rules ---------------------------------------------------------------------------------
_OPS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
Interval = tuple[float, bool, float, bool]  # low, low inclusive, high, high inclusive


def _accepted(rule: DataQuality) -> list[Interval] | None:
    """The set of observed values a rule accepts, as intervals; None for non-numeric thresholds."""
    inf = math.inf
    for op in _OPS:
        value = getattr(rule, op)
        if value is None:
            continue
        if op in ("mustBe", "mustNotBe") and not isinstance(value, int | float):
            return None
        if op == "mustBe":
            return [(value, True, value, True)]
        if op == "mustNotBe":
            return [(-inf, False, value, False), (value, False, inf, False)]
        if op == "mustBeGreaterThan":
            return [(value, False, inf, False)]
        if op == "mustBeGreaterOrEqualTo":
            return [(value, True, inf, False)]
        if op == "mustBeLessThan":
            return [(-inf, False, value, False)]
        if op == "mustBeLessOrEqualTo":
            return [(-inf, False, value, True)]
        low, high = sorted(value)
        if op == "mustBeBetween":
            return [(low, True, high, True)]
        return [(-inf, False, low, False), (high, False, inf, False)]
    return [(-math.inf, False, math.inf, False)]


def _inside(a: Interval, b: Interval) -> bool:
    low_ok = a[0] > b[0] or (a[0] == b[0] and (b[1] or not a[1]))
    high_ok = a[2] < b[2] or (a[2] == b[2] and (b[3] or not a[3]))
    return low_ok and high_ok


def _subset(a: list[Interval], b: list[Interval]) -> bool:
    return all(any(_inside(x, y) for y in b) for x in a)


def _percent(rule: DataQuality) -> bool:
    return (rule.unit or "rows").lower() in ("percent", "%")


def _rule_key(rule: DataQuality) -> str:
    if rule.id:
        return f"id:{rule.id}"
    if rule.name:
        return f"name:{rule.name}"
    if rule.query:
        return "sql:" + " ".join(rule.query.split())
    args = rule.arguments or {}
    variant = "pattern" if "pattern" in args else ("validValues" if "validValues" in args else "")
    return f"metric:{rule.metric or rule.rule or rule.type}:{args.get('properties', '')}:{variant}"


def _quality(old: Sequence[DataQuality], new: Sequence[DataQuality], path: str, where: str, out: list[Change]) -> None:
    old_by = {_rule_key(r): (i, r) for i, r in enumerate(old)}
    new_by = {_rule_key(r): (i, r) for i, r in enumerate(new)}
    for key, (i, rule) in old_by.items():
        if key not in new_by and rule.type != "text":
            out.append(Change(B, "quality_rule_removed", f"{path}[{i}]", f"{where}: quality rule {key} removed"))
    for key, (i, rule) in new_by.items():
        if key not in old_by:
            kind = C if rule.type == "text" else A
            out.append(Change(kind, "quality_rule_added", f"{path}[{i}]", f"{where}: quality rule {key} added"))
            continue
        _rule(old_by[key][1], rule, f"{path}[{i}]", f"{where}: rule {key}", out)


def _rule(old: DataQuality, new: DataQuality, path: str, where: str, out: list[Change]) -> None:
    if _percent(old) != _percent(new) or (old.query or "") != (new.query or ""):
        out.append(Change(B, "quality_rule_changed", path, f"{where}: unit or query changed"))
        return
    before, after = _accepted(old), _accepted(new)
    if before is None or after is None:
        if _dump([getattr(old, op) for op in _OPS]) != _dump([getattr(new, op) for op in _OPS]):
            out.append(Change(B, "quality_rule_changed", path, f"{where}: threshold changed"))
    elif before != after:
        if _subset(after, before):
            out.append(Change(A, "quality_rule_tightened", path, f"{where}: threshold tightened"))
        else:
            out.append(Change(B, "quality_rule_loosened", path, f"{where}: threshold loosened or changed"))
    old_args, new_args = old.arguments or {}, new.arguments or {}
    if old_args != new_args:
        kind = B
        valid_old, valid_new = old_args.get("validValues"), new_args.get("validValues")
        others_same = {k: v for k, v in old_args.items() if k != "validValues"} == {
            k: v for k, v in new_args.items() if k != "validValues"
        }
        if others_same and valid_old is not None and valid_new is not None and set(valid_new) <= set(valid_old):
            kind = A
        verb = "tightened" if kind is A else "loosened or changed"
        out.append(
            Change(
                kind,
                f"quality_rule_{'tightened' if kind is A else 'loosened'}",
                f"{path}.arguments",
                f"{where}: arguments {verb}",
            )
        )
    severity = {"info": 0, "warning": 0, "warn": 0, "error": 1}
    old_sev, new_sev = (
        severity.get((old.severity or "error").lower(), 1),
        severity.get((new.severity or "error").lower(), 1),
    )
    if old_sev != new_sev:
        kind = A if new_sev > old_sev else B
        out.append(
            Change(
                kind,
                "quality_severity_changed",
                f"{path}.severity",
                f"{where}: severity {old.severity or 'error'} -> {new.severity or 'error'}",
            )
        )
    if (old.description, old.name, old.dimension, old.tags) != (new.description, new.name, new.dimension, new.tags):
        out.append(Change(C, "quality_rule_described", path, f"{where}: description changed"))


# -- SLOs --------------------------------------------------------------------------------------------
_SECONDS = TIME_UNIT_SECONDS
_LOWER_IS_BETTER = {"latency", "freshness", "frequency", "timetodetect", "timetonotify", "timetorepair", "ttr", "ttd"}
_HIGHER_IS_BETTER = {"availability", "completeness", "retention", "throughput", "uptime", "coverage"}


def _magnitude(sla: ServiceLevelAgreementProperty) -> float | None:
    if isinstance(sla.value, bool) or not isinstance(sla.value, int | float):
        return None
    unit = (sla.unit or "").lower()
    if unit in _SECONDS:
        return float(sla.value) * _SECONDS[unit]
    return float(sla.value)


def _slas(
    old: Iterable[ServiceLevelAgreementProperty], new: Iterable[ServiceLevelAgreementProperty], out: list[Change]
) -> None:
    def key(s: ServiceLevelAgreementProperty) -> str:
        return f"{(s.property or '').lower()}:{s.element or ''}"

    old_by = {key(s): (i, s) for i, s in enumerate(old)}
    new_by = {key(s): (i, s) for i, s in enumerate(new)}
    for k, (i, s) in old_by.items():
        if k not in new_by:
            out.append(Change(B, "slo_removed", f"slaProperties[{i}]", f"SLO {s.property} removed"))
    for k, (i, s) in new_by.items():
        if k not in old_by:
            out.append(Change(A, "slo_added", f"slaProperties[{i}]", f"SLO {s.property} added"))
            continue
        before = old_by[k][1]
        if (before.value, before.unit) == (s.value, s.unit):
            if _dump(before) != _dump(s):
                out.append(Change(C, "slo_described", f"slaProperties[{i}]", f"SLO {s.property} details changed"))
            continue
        name = (s.property or "").lower()
        b, a = _magnitude(before), _magnitude(s)
        text = f"SLO {s.property}: {before.value} {before.unit or ''} -> {s.value} {s.unit or ''}"
        if b is None or a is None or (name not in _LOWER_IS_BETTER and name not in _HIGHER_IS_BETTER):
            out.append(Change(B, "slo_changed", f"slaProperties[{i}].value", f"{text} (changed)"))
            continue
        better = a < b if name in _LOWER_IS_BETTER else a > b
        if a == b:
            out.append(Change(C, "slo_respelled", f"slaProperties[{i}]", f"{text} (same)"))
        else:
            out.append(
                Change(
                    A if better else B,
                    "slo_strengthened" if better else "slo_weakened",
                    f"slaProperties[{i}].value",
                    f"{text} ({'strengthened' if better else 'weakened'})",
                )
            )


# -- physical types --------------------------------------------------------------------------------
def _parse_type(text: str) -> tuple[str, tuple[int, ...]]:
    match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(([\d,\s]*)\))?\s*$", text)
    if not match:
        return text.strip().upper(), ()
    params = tuple(int(p) for p in (match.group(2) or "").split(",") if p.strip())
    return match.group(1).upper(), params


def _physical_change(old: str | None, new: str | None) -> ChangeKind:
    """ADDITIVE when every old value fits the new type losslessly, COSMETIC for the same type spelled
    differently, BREAKING otherwise (including a type declared for the first time or dropped)."""
    if not old or not new:
        return C if not new else B
    (ob, op), (nb, np_) = _parse_type(old), _parse_type(new)
    if ob in _INT_WIDTH and nb in _INT_WIDTH:
        return _order(_INT_WIDTH[ob], _INT_WIDTH[nb])
    if ob in _FLOAT_WIDTH and nb in _FLOAT_WIDTH:
        return _order(_FLOAT_WIDTH[ob], _FLOAT_WIDTH[nb])
    if ob in _INT_WIDTH and nb in _FLOAT_WIDTH:
        return A if _FLOAT_WIDTH[nb] == 64 and _INT_WIDTH[ob] <= 32 else B
    if ob in ("DECIMAL", "NUMERIC") and nb in ("DECIMAL", "NUMERIC"):
        (p1, s1), (p2, s2) = (op + (18, 3)[len(op) :])[:2], (np_ + (18, 3)[len(np_) :])[:2]
        if (p1, s1) == (p2, s2):
            return C
        return A if s2 >= s1 and p2 - s2 >= p1 - s1 else B
    if ob in _INT_WIDTH and nb in ("DECIMAL", "NUMERIC"):
        p, s = (np_ + (18, 3)[len(np_) :])[:2]
        digits = {8: 3, 16: 5, 32: 10, 64: 19, 128: 39}[_INT_WIDTH[ob]]
        return A if p - s >= digits else B
    if ob in _STRINGS and nb in _STRINGS:
        old_len, new_len = (op[0] if op else None), (np_[0] if np_ else None)
        if old_len == new_len:
            return C
        if new_len is None:
            return A
        return A if old_len is not None and new_len > old_len else B
    return C if (ob, op) == (nb, np_) else B


def _order(old_width: int, new_width: int) -> ChangeKind:
    if old_width == new_width:
        return C
    return A if new_width > old_width else B
