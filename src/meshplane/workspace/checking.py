"""Contract checks on a port's rows, shared by builds (before publish) and ``meshplane test``.

Foreign keys are bound to their target ports: the staged result of the same run when there is one, else
the target's published snapshot, an input port, or a source. A port of another product is read as the checked
product may read it (:data:`ReferenceReader`, the build's governed edges: its agreement's columns, masks and
row filter), or the check is refused with a located error on the relationship; a target column it may not read,
or reads masked, cannot be compared and is refused the same way. Against a row-filtered target the check says
so in its result; a failure while it reads another product's port keeps only the failure's kind.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from meshplane.access.query_errors import sanitize_engine_error
from meshplane.builds import CheckOutcome, PortCheck, PortChecker, table_id_for
from meshplane.builds.inputs import source_relation
from meshplane.contracts.compile import CompiledPlan
from meshplane.contracts.plan import compile_plan
from meshplane.contracts.profile import PortProfile, ProfileSample, profile_columns, sampled_columns
from meshplane.contracts.runner import NOT_EXECUTED, AggregateFn, CheckResult, check_and_profile
from meshplane.engines.base import ArrowRelation, Engine, FileRelation, Relation, StagedResult
from meshplane.errors import BuildError
from meshplane.graph import MeshGraph
from meshplane.spec import OutputPortSpec, ProductSpec
from meshplane.types import Address, SourceLocation
from meshplane.workspace.edge_checks import relationship_targets
from meshplane.workspace.platform import Platform
from meshplane.workspace.sampling import profile_sample

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CHECKED",
    "ContractChecker",
    "ReferenceRead",
    "ReferenceReader",
    "observed_number",
    "port_checker",
    "sensitive_columns",
    "to_outcome",
]

CHECKED = "__meshplane_checked"
SAMPLED = "__meshplane_profile_sample"
_MASKED_CLASSES = {"confidential", "pii", "restricted"}
_LOCATION_STEP = re.compile(r"([A-Za-z_]+)(?:\[(\d+)\])?")


@dataclass(frozen=True)
class ReferenceRead:
    """A foreign key's target port as the checked product may read it."""

    relation: Relation
    columns: frozenset[str] | None = None
    """The columns it may read (lower case); None: every column."""
    masked: frozenset[str] = frozenset()
    """Columns it reads masked (lower case): their values cannot be compared with raw ones."""
    filtered: bool = False
    """A row filter hides some of the port's rows from it."""
    reader: str = ""
    """Who reads, when it is another product's port: the consuming product's principal."""
    address: str = ""
    """The port read."""


ReferenceReader = Callable[[ProductSpec, Address, SourceLocation, "Relation | None"], "ReferenceRead | None"]
"""``(checked product, target port, where the relationship is written, the target's result staged in this run)``
-> the target as the product may read it, None when it was never published; raises a located BuildError when
the access decision refuses the read."""


@dataclass
class ContractChecker:
    graph: MeshGraph
    platform: Platform
    reader: ReferenceReader | None = None
    """Reads other products' ports through the access decision; without one such a foreign key is refused."""

    def port_relation(self, port: Address, staged: dict[Address, StagedResult]) -> Relation | None:
        """A port's rows: staged in this run, else its published snapshot (None: never published)."""
        result = staged.get(port)
        if result is not None:
            return FileRelation(paths=result.files) if result.files else ArrowRelation(result.schema.empty_table())
        spec = self.graph.ports[port]
        snapshot = self.platform.tables.current(table_id_for(port, spec.major))
        if snapshot is None:
            return None
        return (
            FileRelation(paths=snapshot.data_files)
            if snapshot.data_files
            else ArrowRelation(snapshot.schema.empty_table())
        )

    def _target_port(self, port: Address, target: str) -> tuple[Address | None, Relation | None]:
        """A foreign key's target: a port address, a sibling port, or an input port of the product (a port, or a
        declared source's relation)."""
        try:
            named = Address.parse(target)
        except ValueError:
            named = None
        if named is not None and named.port is not None and named in self.graph.ports:
            return named, None
        sibling = Address(port.domain, port.product, target)
        if sibling in self.graph.ports:
            return sibling, None
        for edge in self.graph.edges.get(port.product_address, ()):
            if edge.input.name == target:
                if edge.upstream_port is not None:
                    return edge.upstream_port, None
                if edge.source is not None:
                    return None, source_relation(self.graph, edge.source)
        return None, None

    def _target_read(self, port: Address, target: str, where: SourceLocation,
                     staged: dict[Address, StagedResult]) -> ReferenceRead | None:  # fmt: skip
        """The target's rows as ``port``'s product may read them (its own product's ports raw)."""
        address, source = self._target_port(port, target)
        if address is None:
            return ReferenceRead(source) if source is not None else None
        if address.product_address == port.product_address:
            relation = self.port_relation(address, staged)
            return ReferenceRead(relation) if relation is not None else None
        product = self.graph.products[port.product_address]
        if self.reader is None:  # fail closed: another product's rows are read through the access decision only
            raise BuildError(
                f"{where.render(self.graph.spec.root)}: the foreign key to {target} reads {address}, another "
                f"product's port, which {product.address} may read only through the access decision; check it "
                "with meshplane test or a build"
            )
        result = staged.get(address)
        relation = None
        if result is not None:
            relation = FileRelation(paths=result.files) if result.files else ArrowRelation(result.schema.empty_table())
        return self.reader(product, address, where, relation)

    def check(
        self,
        port: Address,
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        schema: pa.Schema | None,
        *,
        staged: dict[Address, StagedResult] | None = None,
        sample_limit: int = 5,
        metrics: Callable[[str], bool] | None = None,
    ) -> list[CheckResult]:
        """Every check of the port's contract on ``relation`` (those whose metric ``metrics`` keeps, when given);
        foreign keys read their target ports."""
        return self.check_and_profile(
            port, spec, engine, relation, schema, staged=staged, sample_limit=sample_limit, metrics=metrics
        )[0]

    def check_and_profile(
        self,
        port: Address,
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        schema: pa.Schema | None,
        *,
        staged: dict[Address, StagedResult] | None = None,
        sample_limit: int = 5,
        metrics: Callable[[str], bool] | None = None,
        profile: bool = False,
    ) -> tuple[list[CheckResult], PortProfile | None]:
        """:meth:`check`, and with ``profile`` the port's profile from the same scan (sensitive columns by
        counts only)."""
        references: dict[str, str] = {}
        relations: dict[str, Relation] = {CHECKED: relation}
        governed: dict[str, tuple[str, ReferenceRead]] = {}  # relation name -> (target, read) of other products
        targets = relationship_targets(spec.contract.odcs, spec.contract.table_index)
        for n, target in enumerate(sorted(targets)):
            if target == spec.contract.table:
                references[target] = CHECKED
                continue
            where = spec.contract.location("schema", spec.contract.table_index, *targets[target])
            bound = self._target_read(port, target, where, staged or {})
            if bound is not None:
                references[target] = f"__meshplane_ref_{n}"
                relations[references[target]] = bound.relation
                if bound.reader:
                    governed[references[target]] = (target, bound)
        plan = compile_plan(spec.contract.odcs, table_index=spec.contract.table_index, references=references)
        if metrics is not None:  # an increment: row rules on the new rows, table rules on the whole table
            plan = dataclasses.replace(plan, checks=tuple(c for c in plan.checks if metrics(c.metric)))
        root = self.graph.spec.root
        fks = [(c, governed[c.foreign_key.target_relation]) for c in plan.checks
               if c.foreign_key is not None and c.foreign_key.target_relation in governed]  # fmt: skip
        for check, (target, read) in fks:
            assert check.foreign_key is not None
            shown = spec.contract.location(*_json_path(check.location)).render(root)
            _comparable(shown, check.foreign_key.target_columns, target, read)

        def query(sql: str, checked: Relation = relation) -> pa.Table:
            # only the relations the statement names are bound: binding the checked files' view reads their
            # footers, which a distribution query over the profile's sample does not need
            named = {name: relation for name, relation in relations.items() if name in sql}
            if CHECKED in named:
                named[CHECKED] = checked
            try:
                return engine.query(sql, named)
            except Exception as error:
                if not any(name in sql for name in governed):
                    raise
                # it read another product's port: its values (DuckDB quotes them) stay out of the message
                raise sanitize_engine_error(error.__cause__ or error) from None

        sensitive = sensitive_columns(spec)
        sample = None
        if profile and schema is not None:  # a large port's values are profiled on a sample of its rows
            rows = profile_sample(engine, relation, sampled_columns(profile_columns(schema, sensitive)))
            if rows is not None:
                relations[SAMPLED] = ArrowRelation(rows)
                sample = ProfileSample(SAMPLED, rows.num_rows)
        results, found = check_and_profile(
            plan,
            CHECKED,
            query,
            dialect=engine.capabilities.sql_dialect,
            schema=schema,
            sample_limit=sample_limit,
            profile=profile,
            sensitive=sensitive,
            sample=sample,
            aggregate=_file_counts(relation, query),
        )
        notes = {
            check.id: f"; checked against the rows of {read.address} that {read.reader} may read: its row filter "
            "hides the others, so a key found only there counts as missing"
            for check, (_, read) in fks
            if read.filtered
        }
        results = [dataclasses.replace(r, message=r.message + notes[r.check_id]) if r.check_id in notes else r
                   for r in results]  # fmt: skip
        return [_masked(spec, r) for r in results], found


def _file_counts(relation: Relation, query: Callable[[str, Relation], pa.Table]) -> AggregateFn | None:
    """Over Parquet files, the aggregate scan's counts are remembered file by file (published files never change):
    an append's whole-table rules then scan only its new files."""
    if not isinstance(relation, FileRelation):
        return None
    from meshplane.workspace import file_counts

    def aggregate(compiled: CompiledPlan) -> dict[str, Any]:
        def scan(files: FileRelation) -> dict[str, Any]:
            row: dict[str, Any] = query(compiled.aggregate_sql, files).to_pylist()[0]
            return row

        return file_counts.aggregate(compiled, relation, scan)

    return aggregate


def port_checker(graph: MeshGraph, platform: Platform, reader: ReferenceReader | None = None) -> PortChecker:
    """The build's contract checker, with foreign keys bound to their target ports' published snapshots (other
    products' ports through ``reader``, the access decision)."""
    checker = ContractChecker(graph, platform, reader)

    def check(
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        staged: StagedResult | None,
        metrics: Callable[[str], bool] | None = None,
        *,
        profile: bool = False,
    ) -> PortCheck:
        results, found = checker.check_and_profile(
            spec.contract.address,
            spec,
            engine,
            relation,
            staged.schema if staged else None,
            metrics=metrics,
            profile=profile,
        )
        return PortCheck(tuple(to_outcome(r) for r in results), found.as_json() if found is not None else None)

    return check


def to_outcome(result: CheckResult) -> CheckOutcome:
    threshold = result.threshold.render() if result.threshold is not None else ""
    if not result.executed:
        threshold = NOT_EXECUTED
    return CheckOutcome(
        rule_id=result.check_id,
        passed=result.passed,
        blocking=result.blocks_publish,
        message=result.message,
        metric=result.metric,
        column=result.column,
        observed=result.observed,
        threshold=threshold,
        severity=result.severity.value,
        sample=result.sample_rows,
    )


def observed_number(value: object) -> float | None:
    """Observed values come back as bool, int, float or Decimal (DuckDB sums); the catalog stores floats."""
    if isinstance(value, bool | int | float | Decimal):
        return float(value)
    return None


def _json_path(location: str) -> tuple[str | int, ...]:
    """A check's location (``schema[0].properties[2].relationships[0]``) as a key path of its contract file."""
    steps: list[str | int] = []
    for name, index in _LOCATION_STEP.findall(location):
        steps.append(name)
        if index:
            steps.append(int(index))
    return tuple(steps)


def _comparable(where: str, columns: tuple[str, ...], target: str, read: ReferenceRead) -> None:
    """Refuse, located, a foreign key into another product's port on columns the product may not read or reads
    masked: their values could not be compared (the message names columns, never values)."""
    unread = [c for c in columns if read.columns is not None and c.lower() not in read.columns]
    masked = [c for c in columns if c.lower() in read.masked]
    if unread:
        readable = ", ".join(sorted(read.columns or ())) or "none"
        raise BuildError(
            f"{where}: the foreign key to {target} compares column(s) {', '.join(unread)} of {read.address}, which "
            f"{read.reader} may not read (it may read: {readable}); ask for them in its agreement (--columns) or "
            "remove the relationship"
        )
    if masked:
        raise BuildError(
            f"{where}: the foreign key to {target} compares column(s) {', '.join(masked)} of {read.address}, which "
            f"{read.reader} reads masked: masked values cannot be compared; an agreement may grant them unmasked "
            f"(--unmasked {','.join(masked)}), or remove the relationship"
        )


def sensitive_columns(spec: OutputPortSpec) -> frozenset[str]:
    """Columns whose values never leave a build: masked, or classified confidential and above. Failing-row
    samples show them as ``***``; profiles count their nulls and nothing else."""
    return frozenset(
        c.name
        for c in spec.contract.columns
        if c.mask is not None or (c.classification or "").lower() in _MASKED_CLASSES
    )


def _masked(spec: OutputPortSpec, result: CheckResult) -> CheckResult:
    """Failing-row samples never show sensitive columns (masked or classified confidential and above)."""
    hidden = sensitive_columns(spec)
    if not result.sample_rows or not hidden:
        return result
    rows = tuple(
        {k: ("***" if k in hidden and v is not None else v) for k, v in row.items()} for row in result.sample_rows
    )
    return CheckResult(
        result.check_id,
        result.kind,
        result.metric,
        result.column,
        result.observed,
        result.threshold,
        result.unit,
        result.passed,
        result.severity,
        result.failing_rows,
        rows,
        result.message,
        result.location,
    )
