"""The engine-neutral check plan compiled from an ODCS v3 contract.

A :class:`CheckPlan` holds every check of one schema object (one table) as a frozen :class:`Check`:
schema constraints (column present, type, ``required``, ``unique``, primary key single and
composite, ``logicalTypeOptions`` ranges, lengths and patterns, ``enum``, foreign-key
``relationships``) and ODCS quality rules (library metrics and ``sql`` rules). Each check carries a
stable id, a description and its location in the contract, e.g. ``schema[0].properties[3].quality[0]``.

The plan says *what* to check; :mod:`meshplane.contracts.compile` decides *how* (one aggregate scan
per table plus the few queries that cannot share it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from open_data_contract_standard.model import (
    DataQuality,
    OpenDataContractStandard,
    Relationship,
    SchemaObject,
    SchemaProperty,
)

from meshplane.types import Severity

__all__ = [
    "Check",
    "CheckKind",
    "CheckPlan",
    "ColumnSpec",
    "ForeignKey",
    "Operator",
    "PlanError",
    "Threshold",
    "Unit",
    "compile_plan",
    "compile_plans",
]


class PlanError(ValueError):
    """A contract cannot be compiled into checks; the message names the location."""


class CheckKind(StrEnum):
    SCHEMA = "schema"  # a constraint written on the schema (required, unique, primaryKey, types, ...)
    QUALITY = "quality"  # an ODCS ``quality[]`` rule


class Unit(StrEnum):
    ROWS = "rows"
    PERCENT = "percent"


class Operator(StrEnum):
    MUST_BE = "mustBe"
    MUST_NOT_BE = "mustNotBe"
    MUST_BE_GREATER_THAN = "mustBeGreaterThan"
    MUST_BE_GREATER_OR_EQUAL_TO = "mustBeGreaterOrEqualTo"
    MUST_BE_LESS_THAN = "mustBeLessThan"
    MUST_BE_LESS_OR_EQUAL_TO = "mustBeLessOrEqualTo"
    MUST_BE_BETWEEN = "mustBeBetween"
    MUST_NOT_BE_BETWEEN = "mustNotBeBetween"


_OPERATOR_TEXT = {
    Operator.MUST_BE: "must be",
    Operator.MUST_NOT_BE: "must not be",
    Operator.MUST_BE_GREATER_THAN: "must be >",
    Operator.MUST_BE_GREATER_OR_EQUAL_TO: "must be >=",
    Operator.MUST_BE_LESS_THAN: "must be <",
    Operator.MUST_BE_LESS_OR_EQUAL_TO: "must be <=",
    Operator.MUST_BE_BETWEEN: "must be between",
    Operator.MUST_NOT_BE_BETWEEN: "must not be between",
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """An ODCS operator and its value; ``holds(observed)`` says whether a measurement passes."""

    operator: Operator
    value: Any

    def holds(self, observed: Any) -> bool:
        op, value = self.operator, self.value
        if observed is None:
            return False
        if op is Operator.MUST_BE:
            return bool(observed == value)
        if op is Operator.MUST_NOT_BE:
            return bool(observed != value)
        if op is Operator.MUST_BE_GREATER_THAN:
            return bool(observed > value)
        if op is Operator.MUST_BE_GREATER_OR_EQUAL_TO:
            return bool(observed >= value)
        if op is Operator.MUST_BE_LESS_THAN:
            return bool(observed < value)
        if op is Operator.MUST_BE_LESS_OR_EQUAL_TO:
            return bool(observed <= value)
        low, high = value
        inside = bool(low <= observed <= high)
        return inside if op is Operator.MUST_BE_BETWEEN else not inside

    def render(self) -> str:
        if self.operator in (Operator.MUST_BE_BETWEEN, Operator.MUST_NOT_BE_BETWEEN):
            low, high = self.value
            return f"{_OPERATOR_TEXT[self.operator]} {low} and {high}"
        return f"{_OPERATOR_TEXT[self.operator]} {self.value}"


ZERO = Threshold(Operator.MUST_BE, 0)


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """Columns of this table that must exist in ``target_relation``'s ``target_columns``."""

    target_table: str
    target_columns: tuple[str, ...]
    target_relation: str


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column the contract declares, for schema checks against an Arrow schema."""

    name: str
    logical_type: str | None
    physical_type: str | None
    required: bool
    location: str


@dataclass(frozen=True, slots=True)
class Check:
    """One check: what is measured (``metric`` on ``columns``), the threshold, and where it came from.

    Metrics: ``present`` and ``type`` (schema only); ``nullValues``, ``missingValues``,
    ``invalidValues``, ``duplicateValues``, ``rowCount`` (ODCS library); ``required``, ``unique``,
    ``primaryKey``, ``foreignKey``, ``range``, ``length``, ``pattern``, ``enum`` (schema
    constraints); ``sql`` (a query returning one value). Counting metrics count failing rows.
    """

    id: str
    kind: CheckKind
    metric: str
    table: str
    columns: tuple[str, ...]
    threshold: Threshold
    unit: Unit
    severity: Severity
    description: str
    location: str
    valid_values: tuple[Any, ...] = ()
    missing_values: tuple[Any, ...] = ()
    pattern: str | None = None
    bounds: tuple[tuple[str, Any], ...] = ()  # (minimum|maximum|exclusiveMinimum|exclusiveMaximum, v)
    query: str | None = None
    foreign_key: ForeignKey | None = None
    engine: str | None = None  # a ``custom`` rule's engine (soda, greatExpectations, ...)
    implementation: Any = None  # a ``custom`` rule's engine-specific body

    @property
    def executable(self) -> bool:
        """False for ``text`` rules (prose) and ``custom`` ones (another tool's syntax): reported, not run."""
        return self.metric not in NOT_RUN_METRICS

    @property
    def column(self) -> str | None:
        return self.columns[0] if len(self.columns) == 1 else None


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """Every check of one table of a contract, in contract order."""

    contract_id: str
    table: str
    table_index: int
    columns: tuple[ColumnSpec, ...]
    checks: tuple[Check, ...]

    def by_id(self, check_id: str) -> Check:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)


NOT_RUN_METRICS = frozenset({"text", "custom"})
_LIBRARY = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
_DEFAULT_THRESHOLD = {"rowCount": Threshold(Operator.MUST_BE_GREATER_THAN, 0)}
_BOUND_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def compile_plans(
    contract: OpenDataContractStandard, *, references: Mapping[str, str] | None = None
) -> tuple[CheckPlan, ...]:
    """One plan per schema object of ``contract``."""
    return tuple(
        compile_plan(contract, table_index=i, references=references) for i in range(len(contract.schema_ or ()))
    )


def compile_plan(
    contract: OpenDataContractStandard,
    *,
    table_index: int = 0,
    references: Mapping[str, str] | None = None,
) -> CheckPlan:
    """Compile the checks of ``contract.schema[table_index]`` (the port's table by default).

    ``references`` maps the table part of a relationship's ``to`` (``customers`` in
    ``customers.id``) to the relation the target port is readable as; unmapped targets are read
    under their own name.
    """
    objects = contract.schema_ or []
    if not 0 <= table_index < len(objects):
        raise PlanError(f"schema[{table_index}]: the contract declares {len(objects)} schema objects")
    obj = objects[table_index]
    if not obj.name:
        raise PlanError(f"schema[{table_index}]: a schema object needs a name")
    builder = _Builder(contract, obj, table_index, dict(references or {}), multi=len(objects) > 1)
    return builder.build()


class _Builder:
    def __init__(
        self,
        contract: OpenDataContractStandard,
        obj: SchemaObject,
        index: int,
        references: dict[str, str],
        *,
        multi: bool,
    ) -> None:
        self.contract = contract
        self.obj = obj
        self.table = obj.name or ""
        self.index = index
        self.references = references
        self.prefix = contract.id or contract.name or self.table
        self.multi = multi
        self.checks: list[Check] = []
        self.ids: set[str] = set()

    # -- ids and locations -------------------------------------------------------------------
    def _id(self, subject: str, metric: str) -> str:
        base = f"{self.prefix}.{self.table}.{subject}" if self.multi else f"{self.prefix}.{subject}"
        candidate, n = f"{base}.{metric}", 2
        while candidate in self.ids:
            candidate, n = f"{base}.{metric}_{n}", n + 1
        self.ids.add(candidate)
        return candidate

    def _add(self, subject: str, metric: str, *, name: str | None = None, **fields: Any) -> None:
        check_id = self._id(subject, name or metric)
        self.checks.append(Check(id=check_id, metric=metric, table=self.table, **fields))

    # -- the walk ----------------------------------------------------------------------------
    def build(self) -> CheckPlan:
        base = f"schema[{self.index}]"
        props = self.obj.properties or []
        columns: list[ColumnSpec] = []
        for i, prop in enumerate(props):
            loc = f"{base}.properties[{i}]"
            if not prop.name:
                raise PlanError(f"{loc}: a property needs a name")
            columns.append(ColumnSpec(prop.name, prop.logicalType, prop.physicalType, bool(prop.required), loc))
            self._schema_checks(prop, loc)
        self._primary_key(props, base)
        for i, prop in enumerate(props):
            loc = f"{base}.properties[{i}]"
            for j, rel in enumerate(prop.relationships or []):
                self._relationship(rel, f"{loc}.relationships[{j}]", (prop.name or "",))
            for j, rule in enumerate(prop.quality or []):
                self._quality(rule, f"{loc}.quality[{j}]", prop.name)
        for j, rel in enumerate(self.obj.relationships or []):
            self._relationship(rel, f"{base}.relationships[{j}]", None)
        for j, rule in enumerate(self.obj.quality or []):
            self._quality(rule, f"{base}.quality[{j}]", None)
        return CheckPlan(self.prefix, self.table, self.index, tuple(columns), tuple(self.checks))

    def _schema_checks(self, prop: SchemaProperty, loc: str) -> None:
        name = prop.name or ""
        common: dict[str, Any] = {
            "kind": CheckKind.SCHEMA,
            "columns": (name,),
            "unit": Unit.ROWS,
            "severity": Severity.ERROR,
        }
        self._add(
            name,
            "present",
            threshold=Threshold(Operator.MUST_BE, True),
            location=loc,
            description=f"column {name} is present",
            **common,
        )
        if prop.logicalType or prop.physicalType:
            declared = prop.physicalType or prop.logicalType
            self._add(
                name,
                "type",
                threshold=Threshold(Operator.MUST_BE, declared),
                location=f"{loc}.{'physicalType' if prop.physicalType else 'logicalType'}",
                description=f"column {name} has a type compatible with {declared}",
                **common,
            )
        if prop.required or prop.primaryKey:
            why = "required" if prop.required else "part of the primary key"
            self._add(
                name,
                "required",
                threshold=ZERO,
                location=f"{loc}.required" if prop.required else f"{loc}.primaryKey",
                description=f"{name} is {why}: no nulls",
                **common,
            )
        if prop.unique:
            self._add(
                name,
                "unique",
                threshold=ZERO,
                location=f"{loc}.unique",
                description=f"{name} is unique: no duplicate values",
                **common,
            )
        opts = prop.logicalTypeOptions or {}
        bounds = tuple((k, opts[k]) for k in _BOUND_KEYS if opts.get(k) is not None)
        if bounds:
            text = ", ".join(f"{k} {v}" for k, v in bounds)
            self._add(
                name,
                "range",
                threshold=ZERO,
                location=f"{loc}.logicalTypeOptions",
                bounds=bounds,
                description=f"{name} values within {text}",
                **common,
            )
        lengths = tuple((k, opts[k]) for k in ("minLength", "maxLength") if opts.get(k) is not None)
        if lengths:
            text = ", ".join(f"{k} {v}" for k, v in lengths)
            self._add(
                name,
                "length",
                threshold=ZERO,
                location=f"{loc}.logicalTypeOptions",
                bounds=lengths,
                description=f"{name} length within {text}",
                **common,
            )
        if opts.get("pattern"):
            self._add(
                name,
                "pattern",
                threshold=ZERO,
                location=f"{loc}.logicalTypeOptions.pattern",
                pattern=str(opts["pattern"]),
                description=f"{name} matches {opts['pattern']!r}",
                **common,
            )
        if prop.enum:
            values = tuple(v.value for v in prop.enum)
            self._add(
                name,
                "enum",
                threshold=ZERO,
                location=f"{loc}.enum",
                valid_values=values,
                description=f"{name} is one of {list(values)}",
                **common,
            )

    def _primary_key(self, props: Sequence[SchemaProperty], base: str) -> None:
        keyed = [(i, p) for i, p in enumerate(props) if p.primaryKey]
        if not keyed:
            return
        keyed.sort(
            key=lambda ip: (ip[1].primaryKeyPosition or 0) if (ip[1].primaryKeyPosition or 0) > 0 else 1_000_000 + ip[0]
        )
        cols = tuple(p.name or "" for _, p in keyed)
        subject = "+".join(cols) if len(cols) > 1 else cols[0]
        loc = f"{base}.properties[{keyed[0][0]}].primaryKey"
        self._add(
            subject,
            "primaryKey",
            kind=CheckKind.SCHEMA,
            columns=cols,
            threshold=ZERO,
            unit=Unit.ROWS,
            severity=Severity.ERROR,
            location=loc,
            description=f"primary key ({', '.join(cols)}) has no duplicate values",
        )

    def _relationship(self, rel: Relationship, loc: str, implicit_from: tuple[str, ...] | None) -> None:
        if rel.type not in (None, "foreignKey"):
            return
        sources = implicit_from if implicit_from is not None else _as_tuple(rel.from_)
        targets = _as_tuple(rel.to)
        if not sources or len(sources) != len(targets):
            raise PlanError(f"{loc}: 'from' and 'to' must name the same number of columns")
        if implicit_from is None:
            sources = tuple(self._split(s, loc)[1] for s in sources)
        parsed = [self._split(t, loc) for t in targets]
        tables = {t for t, _ in parsed}
        if len(tables) != 1:
            raise PlanError(f"{loc}: a foreign key must point at one table, got {sorted(tables)}")
        target_table = tables.pop()
        fk = ForeignKey(target_table, tuple(c for _, c in parsed), self.references.get(target_table, target_table))
        subject = "+".join(sources)
        self._add(
            subject,
            "foreignKey",
            kind=CheckKind.SCHEMA,
            columns=sources,
            threshold=ZERO,
            unit=Unit.ROWS,
            severity=Severity.ERROR,
            location=loc,
            foreign_key=fk,
            description=f"({', '.join(sources)}) references {target_table}({', '.join(fk.target_columns)})",
        )

    def _split(self, ref: str, loc: str) -> tuple[str, str]:
        """``table.column`` or a fully qualified ``schema/<id>/properties/<id>`` reference."""
        if "/" in ref:
            parts = ref.split("#")[-1].strip("/").split("/")
            if len(parts) >= 4 and parts[0] == "schema" and parts[2] == "properties":
                for obj in self.contract.schema_ or []:
                    if parts[1] in (obj.id, obj.name):
                        for prop in obj.properties or []:
                            if parts[3] in (prop.id, prop.name):
                                return obj.name or "", prop.name or ""
            raise PlanError(f"{loc}: cannot resolve reference {ref!r}")
        table, _, column = ref.rpartition(".")
        if not table:
            raise PlanError(f"{loc}: write the reference as <table>.<column>, got {ref!r}")
        return table, column

    def _quality(self, rule: DataQuality, loc: str, column: str | None) -> None:
        qtype = rule.type or ("library" if (rule.metric or rule.rule) else None)
        if qtype in NOT_RUN_METRICS:
            # Prose or another tool's syntax: carried as a check that is reported "not executed", never dropped.
            engine = f" ({rule.engine})" if rule.engine else ""
            self._add(
                column or self.table,
                str(qtype),
                name=rule.id or rule.name,
                kind=CheckKind.QUALITY,
                columns=_cols(column),
                threshold=ZERO,
                unit=Unit.ROWS,
                severity=_severity(rule.severity, loc),
                location=loc,
                description=rule.description or rule.name or f"{qtype} rule{engine}",
                engine=rule.engine,
                implementation=rule.implementation,
            )
            return
        severity = _severity(rule.severity, loc)
        unit = _unit(rule.unit, loc)
        threshold = _threshold(rule, loc)
        subject = column or self.table
        description = rule.description or rule.name or ""
        if qtype == "sql" or (qtype is None and rule.query):
            if not rule.query:
                raise PlanError(f"{loc}: a sql rule needs a query")
            if threshold is None:
                raise PlanError(f"{loc}: a sql rule needs an operator such as mustBe")
            self._add(
                subject,
                "sql",
                name=rule.id or rule.name,
                kind=CheckKind.QUALITY,
                columns=_cols(column),
                threshold=threshold,
                unit=unit,
                severity=severity,
                location=loc,
                query=rule.query,
                description=description or f"sql rule on {subject}",
            )
            return
        metric = rule.metric or rule.rule
        if metric not in _LIBRARY:
            raise PlanError(f"{loc}: unknown metric {metric!r}; use one of {', '.join(_LIBRARY)}")
        if threshold is None:
            threshold = _DEFAULT_THRESHOLD.get(metric, ZERO)
        args = dict(rule.arguments or {})
        columns = _cols(column)
        extra: dict[str, Any] = {}
        if metric == "rowCount":
            columns = ()
        elif metric == "duplicateValues" and column is None:
            names = args.get("properties")
            if not isinstance(names, list) or not names:
                raise PlanError(f"{loc}: object-level duplicateValues needs arguments.properties")
            columns = tuple(str(n) for n in names)
            subject = "+".join(columns)
        elif column is None:
            raise PlanError(f"{loc}: {metric} is a property-level metric")
        if metric == "missingValues":
            extra["missing_values"] = tuple(args.get("missingValues") or (None,))
        if metric == "invalidValues":
            if args.get("validValues") is not None:
                extra["valid_values"] = tuple(args["validValues"])
            elif args.get("pattern"):
                extra["pattern"] = str(args["pattern"])
            else:
                raise PlanError(f"{loc}: invalidValues needs arguments.validValues or arguments.pattern")
        self._add(
            subject,
            metric,
            kind=CheckKind.QUALITY,
            columns=columns,
            threshold=threshold,
            unit=unit,
            severity=severity,
            location=loc,
            description=description or f"{metric} of {subject} {threshold.render()}",
            **extra,
        )


def _cols(column: str | None) -> tuple[str, ...]:
    return (column,) if column else ()


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _threshold(rule: DataQuality, loc: str) -> Threshold | None:
    found = [Threshold(op, getattr(rule, op.value)) for op in Operator if getattr(rule, op.value) is not None]
    if len(found) > 1:
        raise PlanError(f"{loc}: use one operator per rule, found {', '.join(t.operator for t in found)}")
    if found and found[0].operator in (Operator.MUST_BE_BETWEEN, Operator.MUST_NOT_BE_BETWEEN):
        low, high = found[0].value
        return Threshold(found[0].operator, (min(low, high), max(low, high)))
    return found[0] if found else None


def _severity(text: str | None, loc: str) -> Severity:
    if text is None or text.lower() == "error":
        return Severity.ERROR
    if text.lower() in ("warning", "warn", "info"):
        return Severity.WARNING
    raise PlanError(f"{loc}.severity: write error, warning or info, not {text!r}")


def _unit(text: str | None, loc: str) -> Unit:
    if text is None or text.lower() in ("rows", "row"):
        return Unit.ROWS
    if text.lower() in ("percent", "%", "percentage"):
        return Unit.PERCENT
    raise PlanError(f"{loc}.unit: write rows or percent, not {text!r}")
