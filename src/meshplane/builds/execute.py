"""Execute a BuildPlan: for each product, gate → transform → contract checks on the staged result → publish.

Write, audit, publish: a port's result is staged as Parquet files, checked against its contract, and only
then committed as the table's new Iceberg snapshot, so failing output is never visible to consumers.
Independent products run in parallel; a product whose upstream failed is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from meshplane.builds.ordering import priorities
from meshplane.builds.plan import (
    BuildPlan,
    PlannedProduct,
    PortRun,
    Reason,
    SourceStates,
    fingerprint_port,
    port_reasons,
    port_run,
)
from meshplane.engines.base import ArrowRelation, Engine, FileRelation, GovernedRelation, Relation, StagedResult
from meshplane.engines.python_sandbox import PythonLimits, SandboxedTransform
from meshplane.errors import BuildError, ContractViolation, MeshError, StorageError
from meshplane.graph import MeshGraph
from meshplane.spec import OutputPortSpec, ProductSpec, TransformSpec
from meshplane.storage import Lease, Publication, SnapshotInfo, TableContract, TableId, TableStore
from meshplane.types import Address

__all__ = [
    "BuildEvents",
    "BuildResult",
    "Builder",
    "CheckOutcome",
    "InputBinder",
    "PortCheck",
    "PortChecker",
    "PortOutcome",
    "ProductOutcome",
    "Status",
    "python_transform",
    "table_contract",
    "table_id_for",
]


class Status(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UP_TO_DATE = "up_to_date"  # another process built it while this one waited for the product's lock

    @property
    def published(self) -> bool:
        """What the product's ports show is this plan's result (built now, or meanwhile by another build)."""
        return self in (Status.SUCCESS, Status.UP_TO_DATE)


@dataclass(frozen=True)
class CheckOutcome:
    """One contract check on a staged result, as the build reports and stores it."""

    rule_id: str
    passed: bool
    blocking: bool
    message: str
    metric: str = ""
    column: str | None = None
    observed: Any = None
    threshold: str = ""
    severity: str = "error"
    sample: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class PortOutcome:
    port: Address
    rows: int = 0
    snapshot_id: int | None = None
    checks: tuple[CheckOutcome, ...] = ()
    run: str = "full"  # "append": ``rows`` are the increment's rows, appended to the published ones
    # The published table's profile (JSON), measured with the checks; an append run's is of its new rows.
    profile: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ProductOutcome:
    address: Address
    status: Status
    seconds: float
    run_id: str
    ports: tuple[PortOutcome, ...] = ()
    error: str | None = None
    engine: str = ""
    # The build gate refused it (nothing ran): the refusing error's class, e.g. PolicyViolation; "" otherwise.
    refused: str = ""

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.ports)


@dataclass(frozen=True)
class BuildResult:
    """What a build did. Falsy when a product failed; ``str()`` says which and why; :meth:`raise_for_failures`
    turns failures into a BuildError (``Mesh.build(..., raise_on_failure=True)`` calls it)."""

    outcomes: tuple[ProductOutcome, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(o.status is not Status.FAILED for o in self.outcomes)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> tuple[ProductOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is Status.FAILED)

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    def __str__(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s.value.replace('_', ' ')}" for s in Status if self.count(s))
        lines = [f"build {'succeeded' if self.ok else 'FAILED'}: {counts or 'nothing to do'} in {self.seconds:.2f}s"]
        lines += [f"  {o.address}: {o.error}" for o in self.failures]
        return "\n".join(lines)

    def raise_for_failures(self) -> BuildResult:
        """Raise BuildError naming every failed product and why; returns self when nothing failed."""
        if not self.ok:
            raise BuildError(str(self))
        return self


# A product's inputs, its file sources read from the files the build's ``SourceStates`` listed (listed there now
# when they were not), so the fingerprint published describes what the run read.
InputBinder = Callable[[ProductSpec, SourceStates], Mapping[str, Relation]]


@dataclass(frozen=True)
class PortCheck:
    """A port's check outcomes and, when asked for, its profile (JSON) measured in the same scan."""

    checks: tuple[CheckOutcome, ...]
    profile: Mapping[str, Any] | None = None


class PortChecker(Protocol):
    """Runs the contract's checks over a staged (or published) port; the workspace supplies the contracts layer.
    ``metrics`` keeps only the rules whose metric it accepts (an increment checks row rules on its new rows and
    table rules on the whole table); ``profile`` also measures the port's profile in the same scan."""

    def __call__(
        self,
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        staged: StagedResult | None,
        metrics: Callable[[str], bool] | None = None,
        *,
        profile: bool = False,
    ) -> PortCheck: ...


class BuildEvents(Protocol):
    """Progress and records: the CLI draws them, the workspace writes runs to the catalog."""

    def started(self, product: Address, run_id: str, engine: str) -> None: ...

    def finished(self, outcome: ProductOutcome) -> None: ...


def table_id_for(port: Address, major: int) -> TableId:
    assert port.product is not None and port.port is not None
    return TableId.for_port(port.domain, port.product, port.port, major)


def python_transform(
    transform: TransformSpec, engine: Engine, limits: PythonLimits | None = None
) -> Callable[..., Any]:
    """The callable an engine runs for a Python transform: the file's ``transform``, run in a confined child
    process (:mod:`meshplane.engines.python_sandbox`), never imported into the platform process.

    Its inputs reach the child as governed Arrow and its result comes back as Arrow, on every engine. A
    transform that asks for Spark DataFrames (a parameter annotated ``DataFrame``) would need the engine's
    session, which cannot enter the confined child: on an engine that hands out DataFrames it is refused,
    located at the parameter, before any of its code runs (docs/access.md)."""
    if engine.capabilities.dataframe_transforms:
        asked = _dataframe_parameter(transform.code)
        if asked is not None:
            line, column, name = asked
            raise BuildError(
                f"{transform.path}:{line}:{column}: transform() asks for a Spark DataFrame ({name}); Python "
                "transforms run confined in a separate process that receives its inputs as pyarrow Tables and "
                "cannot hold the Spark session; fix: annotate the parameter as pyarrow.Table (or leave it "
                "unannotated) and return an Arrow table, or write the port as a SQL transform (<port>.sql), "
                "which Spark runs itself"
            )
    return SandboxedTransform(transform.path, transform.code, limits)


def _dataframe_parameter(code: str) -> tuple[int, int, str] | None:
    """(line, column, ``name: annotation``) of the first parameter of the file's ``transform`` annotated as a
    ``DataFrame``, read from the syntax tree (the file is never imported here); None when there is none."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None  # the confined child reports the syntax error with its line
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "transform":
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg,
                         node.args.kwarg]  # fmt: skip
            for argument in arguments:
                if argument is not None and argument.annotation is not None:
                    annotation = ast.unparse(argument.annotation)
                    if "DataFrame" in annotation:
                        return argument.lineno, argument.col_offset + 1, f"{argument.arg}: {annotation}"
    return None


@dataclass
class Builder:
    """Runs plans against one table store with engines chosen per product."""

    graph: MeshGraph
    store: TableStore
    engine_factory: Callable[[str], Engine]
    """The engine a product runs on, by name: the same one for every call, kept and closed by its owner."""
    checker: PortChecker
    inputs: InputBinder
    """Binds a product's input ports (the workspace's governed binder: every read through the access decision)."""
    python_limits: PythonLimits = field(default_factory=PythonLimits)
    gate: Callable[[ProductSpec], None] = lambda product: None
    events: BuildEvents | None = None
    lock_timeout: float = 600.0
    costs: Callable[[BuildPlan], Mapping[Address, float]] | None = None
    """Each planned product's expected seconds: a parallel build starts the longest chain first (``ordering``)."""
    _serial: dict[int, threading.Lock] = field(default_factory=dict, init=False)  # engines without parallel_builds

    def current(self, port: Address, major: int) -> SnapshotInfo | None:
        return self.store.current(table_id_for(port, major))

    def _stage(
        self,
        engine: Engine,
        port: OutputPortSpec,
        inputs: Mapping[str, Relation],
        run_id: str,
        table: TableId,
        dialect: str | None = None,
        *,
        bounds: GovernedRelation | None = None,
    ) -> StagedResult:
        _assert_capable(engine, port, inputs)
        out_dir = self.store.staging_dir(table, run_id)
        serial = (
            self._serial.setdefault(id(engine), threading.Lock()) if not engine.capabilities.parallel_builds else None
        )
        try:
            with serial or contextlib.nullcontext():
                if port.transform.language == "sql":
                    code = port.transform.code
                    if bounds is not None:  # an append port: its bounds become constants the scan can prune by
                        from meshplane.builds.increments import inline_bounds
                        from meshplane.builds.pruning import prune_sources

                        tree = inline_bounds(code, dialect, bounds)
                        if tree is not None:
                            code = tree.sql(dialect=dialect or "duckdb")
                            # Source files no row of which passes the inlined bounds are never opened.
                            inputs = prune_sources(tree, inputs)
                    return engine.stage_sql(code, inputs, out_dir, dialect=dialect)
                return engine.stage_python(
                    python_transform(port.transform, engine, self.python_limits), inputs, out_dir
                )
        except MeshError as error:
            self.store.cleanup_staging(table, run_id, timeout=self.lock_timeout)
            if type(error) is BuildError and str(port.transform.path) not in str(error):
                raise BuildError(f"{port.transform.path}: {error}") from error  # say which file failed
            raise
        except Exception as error:  # engine errors from user SQL or Python: report, never a traceback
            self.store.cleanup_staging(table, run_id, timeout=self.lock_timeout)
            raise BuildError(f"{port.transform.path}: the transform failed: {_first_line(error)}") from error

    def _build_product(self, item: PlannedProduct, run_id: str, lease: Lease, waited: float) -> ProductOutcome:
        from meshplane.builds import increments  # append ports only: it imports sqlglot

        started = time.perf_counter()
        product = self.graph.products[item.address]
        try:
            self.gate(product)
        except MeshError as error:
            return ProductOutcome(item.address, Status.FAILED, time.perf_counter() - started, run_id,
                                  error=_describe(error), engine=item.engine, refused=type(error).__name__)  # fmt: skip
        # Each source is listed once per product build: the lock re-check, the binding and the fingerprint
        # published with the snapshot see the same files, the ones the run reads.
        states: SourceStates = {}
        built_meanwhile = self._built_meanwhile(item, product, run_id, started, waited, states)
        if built_meanwhile is not None:
            return built_meanwhile
        engine = self.engine_factory(item.engine)
        inputs = self.inputs(product, states)
        staged: list[tuple[OutputPortSpec, TableId, StagedResult, tuple[CheckOutcome, ...]]] = []
        profiles: dict[str, Mapping[str, Any] | None] = {}
        runs: dict[str, PortRun] = {}
        rows: dict[str, int] = {}  # rows the transform computed (a merge publishes more: the whole table)
        published: set[TableId] = set()
        try:
            for port in product.output_ports:
                address = Address(item.address.domain, item.address.product, port.name)
                table = table_id_for(address, port.major)
                runs[port.name] = self._port_run(item, product, port, address, states)
                kind = runs[port.name].kind
                current = self.current(address, port.major) if kind in ("append", "merge", "partitions") else None
                port_inputs, bounds = inputs, None
                if port.incremental:  # its transform reads the increment's bounds
                    bounds = increments.bounds_relation(engine, port, current)
                    port_inputs = {**inputs, increments.BOUNDS: bounds}
                result = self._stage(
                    engine, port, port_inputs, run_id, table, product.custom.get("dialect"), bounds=bounds
                )
                result = self._partitioned(port, result, table, run_id)
                staged.append((port, table, result, ()))
                rows[port.name] = result.row_count
                if current is None or bounds is None:
                    checked = self.checker(port, engine, FileRelation(paths=result.files), result, profile=True)
                elif kind == "partitions":
                    checked = self._check_partitions(port, engine, result, current, table)
                elif kind == "merge":
                    result, checked = self._merge(engine, port, current, result, bounds, run_id, table)
                    staged[-1] = (port, table, result, ())
                else:
                    checked = self._check_increment(port, engine, result, current, bounds)
                checks, profiles[port.name] = checked.checks, checked.profile
                staged[-1] = (port, table, result, checks)
                failed = [c for c in checks if c.blocking and not c.passed]
                if failed:
                    # The failing checks go into the outcome too, so the run's check results are recorded.
                    ports = tuple(
                        PortOutcome(
                            Address(item.address.domain, item.address.product, p.name), 0, None, c, runs[p.name].kind
                        )
                        for p, _, _, c in staged
                    )
                    return ProductOutcome(
                        item.address,
                        Status.FAILED,
                        time.perf_counter() - started,
                        run_id,
                        ports,
                        error=f"{address}: {len(failed)} contract check(s) failed; the previous snapshot stays "
                        "published: " + "; ".join(_failure(c) for c in failed),
                        engine=item.engine,
                    )
            # A builder paused past its lease's expiry may have been taken over: then it must not publish.
            lease.verify()
            # Fingerprints are taken now, after upstreams in this run have published their new snapshots.
            publications = []
            for port, table, result, _ in staged:
                fingerprint = fingerprint_port(self.graph, product, port, self._lookup, item.engine, states)
                properties = {
                    **fingerprint.properties(),
                    "meshplane.contract_version": port.version,
                    "meshplane.refresh": runs[port.name].kind,
                }
                publications.append(
                    Publication(
                        table,
                        result.files,
                        result.schema,
                        properties,
                        contract=table_contract(port),
                        append=runs[port.name].kind == "append",
                        partitions=runs[port.name].kind == "partitions",
                    )
                )
            # All ports of the product become visible together (one catalog transaction) or none does.
            snapshots = self.store.publish_all(publications, run_id=run_id)
            published.update(table for _, table, _, _ in staged)
            outcomes = [
                PortOutcome(Address(item.address.domain, item.address.product, port.name), rows[port.name],
                            snapshot.snapshot_id, checks, runs[port.name].kind, profiles.get(port.name))
                for (port, _, result, checks), snapshot in zip(staged, snapshots, strict=True)
            ]  # fmt: skip
        finally:
            # Published files live where they were staged; only unpublished staging folders are removed. A
            # folder that cannot be removed now must not hide why the build failed: `meshplane maintain` and the
            # next build's cleanup remove orphans later.
            for _, table, _, _ in staged:
                if table not in published:
                    with contextlib.suppress(StorageError):
                        self.store.cleanup_staging(table, run_id, timeout=self.lock_timeout)
        return ProductOutcome(
            item.address, Status.SUCCESS, time.perf_counter() - started, run_id, tuple(outcomes), engine=item.engine
        )

    def _partitioned(self, port: OutputPortSpec, result: StagedResult, table: TableId, run_id: str) -> StagedResult:
        """A partitioned port's staged files split one partition per file, before they are checked."""
        if not port.partitioning:
            return result
        try:
            files = self.store.partition_staged(result.files, table_contract(port))
        except StorageError as error:
            self.store.cleanup_staging(table, run_id, timeout=self.lock_timeout)
            raise BuildError(f"{port.contract.path}: partitioning the result failed: {error}") from error
        return dataclasses.replace(result, files=files)

    def _port_run(
        self, item: PlannedProduct, product: ProductSpec, port: OutputPortSpec, address: Address, states: SourceStates
    ) -> PortRun:
        """Full or append, decided again under the product's lock (the table may have moved since planning)."""
        if not port.incremental:
            return PortRun("full", "refresh: full")
        current = self._lookup(address, port.major)
        wanted = fingerprint_port(self.graph, product, port, self._lookup, item.engine, states)
        return port_run(port, current, port_reasons(current, wanted), item.full_refresh)

    def _merge(
        self,
        engine: Engine,
        port: OutputPortSpec,
        current: SnapshotInfo,
        increment: StagedResult,
        bounds: GovernedRelation,
        run_id: str,
        table: TableId,
    ) -> tuple[StagedResult, PortCheck]:
        """A merge run, copy on write: the table after upserting the increment by the primary key (and deleting
        the keys its deleteFlag marks) is staged whole, then audited: the watermark guard and row rules on the
        increment's kept rows, the table rules on the merged table. Only the merged files get published."""
        from meshplane.builds import increments

        published, changed = "__meshplane_published", "__meshplane_increment"
        relations: dict[str, Relation] = {changed: FileRelation(paths=increment.files)}
        if current.data_files:
            relations[published] = FileRelation(paths=current.data_files)
        sql = increments.merge_sql(port, published if current.data_files else None, changed)
        try:
            merged = engine.stage_sql(sql, relations, self.store.staging_dir(table, run_id))
        except MeshError:
            raise
        except Exception as error:  # an engine error: report, never a traceback
            raise BuildError(f"{port.transform.path}: merging the increment failed: {_first_line(error)}") from error
        merged = self._partitioned(port, merged, table, run_id)
        outside = increments.watermark_violations(port, engine, FileRelation(paths=increment.files), bounds)
        guard = _watermark_guard(port, outside, "changed")

        def table_rule(metric: str) -> bool:
            return not increments.on_increment(metric)

        live = increments.live_rows(port, increment)
        on_new = [c for c in self.checker(port, engine, live, increment, increments.on_increment).checks
                  if increments.on_increment(c.metric)]  # fmt: skip
        whole = self.checker(port, engine, FileRelation(paths=merged.files), merged, table_rule, profile=True)
        on_whole = [c for c in whole.checks if table_rule(c.metric)]
        for path in increment.files:  # computed and checked; the merged files replace it
            with contextlib.suppress(OSError):
                Path(path).unlink()
        return merged, PortCheck((guard, *on_new, *on_whole), whole.profile)

    def _check_partitions(
        self, port: OutputPortSpec, engine: Engine, result: StagedResult, current: SnapshotInfo, table: TableId
    ) -> PortCheck:
        """Write-audit-publish for a partitions run: row rules on the recomputed partitions' rows, rules about the
        whole table on the table as it will be (the published files of untouched partitions plus the new ones).
        No watermark guard: a recomputed partition holds its rows before the watermark too."""
        from meshplane.builds import increments

        try:
            replaced = set(self.store.replaced_files(table, result.files))
        except StorageError as error:
            raise BuildError(f"{port.contract.path}: {error}") from error
        kept = tuple(f for f in current.data_files if f not in replaced)

        def table_rule(metric: str) -> bool:
            return not increments.on_increment(metric)

        new_rows = FileRelation(paths=result.files)
        on_new = [c for c in self.checker(port, engine, new_rows, result, increments.on_increment).checks
                  if increments.on_increment(c.metric)]  # fmt: skip
        # The profile is the whole table's, as a full or merge run's (anomaly detection compares like with like),
        # measured in the scan of the table rules.
        whole = self.checker(port, engine, FileRelation(paths=(*kept, *result.files)), result, table_rule, profile=True)
        on_whole = [c for c in whole.checks if table_rule(c.metric)]
        return PortCheck((*on_new, *on_whole), whole.profile)

    def _check_increment(
        self,
        port: OutputPortSpec,
        engine: Engine,
        result: StagedResult,
        current: SnapshotInfo,
        bounds: GovernedRelation,
    ) -> PortCheck:
        """Write-audit-publish for an increment: the watermark guard and row-level rules on the new rows, rules
        about the whole table (unique, rowCount, foreign keys, SQL) on the published rows plus the new ones."""
        from meshplane.builds import increments  # append ports only: it imports sqlglot

        new_rows, whole = increments.increment_relations(current, result)
        outside = increments.watermark_violations(port, engine, new_rows, bounds)
        guard = _watermark_guard(port, outside, "new")

        # Each run compiles only its rules (the whole table is not scanned for row rules); the schema's own
        # findings (undeclared columns) come from both runs, so each result list is filtered as well. The whole
        # table's scan also measures its profile (published rows and the new ones).
        def table_rule(metric: str) -> bool:
            return not increments.on_increment(metric)

        # Uniqueness on the new rows and the published rows sharing their keys (the published rows were unique
        # when published). When no published file can hold a new key (keys that grow with time), those are the
        # new rows alone, and the uniqueness rules join the new rows' scan.
        keys = increments.key_columns(port) if current.data_files else None
        keyed = increments.keyed_relation(current, result, keys) if keys else None
        distinct = increments.counts_duplicates
        alone = keyed == new_rows

        # the other table rules (row count, foreign keys, SQL) on the whole table
        def other_table_rule(metric: str) -> bool:
            return table_rule(metric) and not distinct(metric)

        # Table rules that are counts summed over files are measured on the new files here as well (their results
        # on the new rows alone are dropped): the whole table's check then reads the new files' counts from
        # what this scan remembered, and the published files' from earlier builds.
        summed = increments.summable_table_rules(port, engine.capabilities.sql_dialect)

        def new_rows_rule(metric: str) -> bool:
            return (increments.on_increment(metric) or (alone and distinct(metric))
                    or (summed and other_table_rule(metric)))  # fmt: skip

        # An append run profiles the rows it adds, in the scan of its row rules: profiling the whole table would
        # cost every daily append a scan of the year (the profile's row count is then the day's, which is what
        # anomaly detection on an append product should watch).
        new_check = self.checker(port, engine, new_rows, result, new_rows_rule, profile=True)
        on_new = [c for c in new_check.checks if increments.on_increment(c.metric)]
        if keyed is None:
            whole_check = self.checker(port, engine, whole, result, table_rule)
            on_whole = [c for c in whole_check.checks if table_rule(c.metric)]
            return PortCheck((guard, *on_new, *on_whole), new_check.profile)

        whole_check = self.checker(port, engine, whole, result, other_table_rule)
        on_whole = [c for c in whole_check.checks if other_table_rule(c.metric)]
        key_check = new_check if alone else self.checker(port, engine, keyed, result, distinct)
        on_keys = [c for c in key_check.checks if distinct(c.metric)]
        return PortCheck((guard, *on_new, *on_whole, *on_keys), new_check.profile)

    def _built_meanwhile(
        self,
        item: PlannedProduct,
        product: ProductSpec,
        run_id: str,
        started: float,
        waited: float,
        states: SourceStates,
    ) -> ProductOutcome | None:
        """Up to date now that we hold the lock (another process built it while we waited)? Then do nothing."""
        if Reason.FORCED in item.reasons:
            return None
        ports: list[PortOutcome] = []
        for port in product.output_ports:
            address = Address(item.address.domain, item.address.product, port.name)
            current = self._lookup(address, port.major)
            wanted = fingerprint_port(self.graph, product, port, self._lookup, item.engine, states)
            if current is None or port_reasons(current, wanted):
                return None
            ports.append(PortOutcome(address, 0, int(current["meshplane.snapshot"])))
        return ProductOutcome(
            item.address,
            Status.UP_TO_DATE,
            time.perf_counter() - started,
            run_id,
            tuple(ports),
            error=f"another build published it while this one waited {waited:.1f} s for its lock: nothing to do",
            engine=item.engine,
        )

    def _lookup(self, port: Address, major: int) -> Mapping[str, str] | None:
        snapshot = self.current(port, major)
        if snapshot is None:
            return None
        return {**snapshot.properties, "meshplane.snapshot": str(snapshot.snapshot_id)}

    def _run_one(self, item: PlannedProduct) -> ProductOutcome:
        run_id = uuid.uuid4().hex[:12]
        if self.events:
            self.events.started(item.address, run_id, item.engine)
        started = time.perf_counter()
        # One build lock per product: two builds of it never interleave, in this process or another.
        build_lock = TableId(item.address.domain, f"{item.address.product}__build")
        try:
            with self.store.lock(build_lock, self.lock_timeout) as lease:
                outcome = self._build_product(item, run_id, lease, time.perf_counter() - started)
        except MeshError as error:
            outcome = ProductOutcome(
                item.address,
                Status.FAILED,
                time.perf_counter() - started,
                run_id,
                error=_describe(error),
                engine=item.engine,
            )
        except Exception as error:  # a bug: fail this product, record the run, let the others finish
            outcome = ProductOutcome(
                item.address,
                Status.FAILED,
                time.perf_counter() - started,
                run_id,
                error=f"internal error: {_first_line(error)}",
                engine=item.engine,
            )
        if self.events:
            self.events.finished(outcome)
        return outcome

    def run(self, plan: BuildPlan, jobs: int = 1) -> BuildResult:
        """Build in dependency order; independent products run concurrently up to ``jobs``.

        Products start as soon as their planned upstreams succeeded: with more products than ``jobs``, those
        heading the longest chain of expected work first (``costs``), otherwise in plan order; a product whose
        upstream failed (or was skipped) is skipped at once. Each finished product only releases the products
        that read it.
        """
        started = time.perf_counter()
        limit = max(1, jobs)
        position = {item.address: index for index, item in enumerate(plan.items)}
        rank: Mapping[Address, float] = {}
        if self.costs is not None and limit > 1 and len(plan.items) > limit:
            rank = priorities(plan, self.graph, self.costs(plan))
        # The heap pops the highest priority first, then the earliest in plan order.
        key = {address: (-rank.get(address, 0.0), index) for address, index in position.items()}
        ups = {item.address: self.graph.upstream_products(item.address) & position.keys() for item in plan.items}
        waiting = {address: len(upstream) for address, upstream in ups.items()}
        dependents: dict[Address, list[Address]] = {}
        for address, upstream in ups.items():
            for up in upstream:
                dependents.setdefault(up, []).append(address)
        ready = [key[address] for address, count in waiting.items() if not count]
        heapq.heapify(ready)
        done: dict[Address, ProductOutcome] = {}
        running: dict[Future[ProductOutcome], Address] = {}

        def settle(address: Address, outcome: ProductOutcome) -> None:
            done[address] = outcome
            for down in dependents.get(address, ()):
                if down in done:
                    continue
                if not outcome.status.published:
                    skip(down)
                    continue
                waiting[down] -= 1
                if not waiting[down]:
                    heapq.heappush(ready, key[down])

        def skip(address: Address) -> None:
            failed = ", ".join(str(u) for u in sorted(ups[address]) if done.get(u) and not done[u].status.published)
            skipped = ProductOutcome(
                address,
                Status.SKIPPED,
                0.0,
                "",
                error=f"upstream failed: {failed}",
                engine=plan.items[position[address]].engine,
            )
            settle(address, skipped)
            if self.events:
                self.events.finished(skipped)

        with ThreadPoolExecutor(max_workers=limit) as pool:
            while ready or running:
                while ready and len(running) < limit:
                    item = plan.items[heapq.heappop(ready)[1]]
                    if item.address not in done:
                        running[pool.submit(self._run_one, item)] = item.address
                if not running:
                    continue
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    settle(running.pop(future), future.result())
        ordered = tuple(done[item.address] for item in plan.items)
        return BuildResult(ordered, time.perf_counter() - started)


def _failure(check: CheckOutcome) -> str:
    """Which rule failed, and on how many rows: ``rule <id>: <metric> = <observed>, must be <threshold>``."""
    detail = check.message.split(": ", 1)[-1]
    return f"rule {check.rule_id}: {detail}"


def _describe(error: MeshError) -> str:
    if isinstance(error, ContractViolation) and error.failures:
        return f"{error}: {'; '.join(error.failures)}"
    return str(error)


def _assert_capable(engine: Engine, port: OutputPortSpec, inputs: Mapping[str, Relation]) -> None:
    """Refuse work the engine declares it cannot do, naming the port and the way out."""
    caps = engine.capabilities
    if port.transform.language != "sql" and not caps.python_transforms:
        raise BuildError(
            f"{port.transform.path}: the {caps.name} engine runs no Python transforms; "
            "set the product's engine to duckdb or write the transform in SQL"
        )
    for name, relation in inputs.items():
        if isinstance(relation, FileRelation) and relation.format not in caps.file_formats:
            raise BuildError(
                f"{port.transform.path}: input {name!r} is {relation.format} files, which the {caps.name} engine "
                f"does not read (it reads {', '.join(sorted(caps.file_formats))})"
            )
        if isinstance(relation, ArrowRelation) and not caps.arrow_inputs:
            raise BuildError(f"{port.transform.path}: the {caps.name} engine cannot take input {name!r} as Arrow")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def table_contract(port: OutputPortSpec) -> TableContract:
    """What the port's contract says of its table's columns, for the Iceberg schema other engines read."""
    columns = port.contract.columns
    keyed = sorted((c for c in columns if c.primary_key), key=lambda c: (c.primary_key_position or 10_000, c.name))
    return TableContract(
        required=frozenset(c.name for c in columns if c.required or c.primary_key),
        identifiers=tuple(c.name for c in keyed),
        docs={c.name: c.description for c in columns if c.description},
        partitioning=port.partitioning,
    )


def _watermark_guard(port: OutputPortSpec, outside: int, rows: str) -> CheckOutcome:
    """The blocking check that an increment's ``rows`` (new or changed) all lie after the published watermark."""
    from meshplane.builds import increments

    return CheckOutcome(
        rule_id=increments.WATERMARK_RULE,
        passed=outside == 0,
        blocking=True,
        message=f"{port.watermark} after the last published value: {rows} rows at or before it, or null = "
        f"{outside}, must be 0",
        metric="watermark",
        column=port.watermark,
        observed=outside,
        threshold="= 0",
    )
