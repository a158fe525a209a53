"""The DuckDB engine: embedded, in-process, the default.

Each call works on its own cursor (a connection sharing the engine's database), so inputs are bound
as temporary views private to that call and several builds may run at once in threads. Inputs are
views over ``read_parquet`` / ``read_csv`` / ``read_json`` (built in; no extension is downloaded),
results are written with DuckDB's parallel Parquet writer straight into the staging folder.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.engines.base import (
    ArrowRelation,
    EngineCapabilities,
    FileRelation,
    GovernedRelation,
    PythonTransform,
    Relation,
    StagedResult,
)
from meshplane.engines.convert import to_arrow_table
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, QueryInterrupted, SandboxLimits, process_limits
from meshplane.engines.limits import RemoteError, WorkerPool
from meshplane.errors import BuildError, LimitExceeded, MeshError, QueryRejected
from meshplane.storage.objectstore import S3Location

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import sqlglot.expressions as exp

# sqlglot (and meshplane.sql) are imported where SQL is rewritten, in the building process: the limited child
# that runs a transform imports this module too, and two children started ~70 ms of CPU each on them.

__all__ = ["DuckDBEngine"]

_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}

# DuckDB types Iceberg (format v2) cannot hold, or holds only lossily, cast before writing.
# HUGEINT is what sum() over integers returns; DuckDB fails the cast on overflow rather than wrap.
_PORTABLE = {
    "HUGEINT": "BIGINT",
    "UHUGEINT": "BIGINT",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "JSON": "VARCHAR",
}


class DuckDBEngine:
    """Runs SQL and Python transforms with DuckDB; see :class:`meshplane.engines.base.Engine`."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        compression: str = "snappy",
        database: str = ":memory:",
        object_store: S3Location | None = None,
        timeout_seconds: float = 3600.0,
        scratch: Path | None = None,
    ) -> None:
        """``scratch``: a folder on the staging folders' file system where build children keep the databases
        they may reuse for transforms over the same files (:mod:`meshplane.engines.build_databases`); None:
        a fresh database for every transform."""
        import duckdb

        config: dict[str, Any] = {
            # Rows of a query without ORDER BY carry no order; letting DuckDB reorder saves memory.
            "preserve_insertion_order": False,
            # No network: every reader meshplane binds is built in.
            "autoinstall_known_extensions": False,
        }
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        self._compression = compression
        self._scratch = scratch
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(database, config=config)
        if object_store is not None:  # published inputs are s3:// objects of the warehouse
            from meshplane.engines.objectstore import open_s3

            open_s3(self._con, object_store)
        # Transforms run in the consumer queries' sandbox with the build's limits: a locked-down database per
        # set of granted files (fresh, or kept by the build child for the same files: build_databases).
        self._sandbox = DuckDBSandbox(
            SandboxLimits(memory_limit=memory_limit or "4GB", threads=threads or os.cpu_count() or 2,
                          timeout_seconds=timeout_seconds, max_rows=0, preserve_order=False), prewarm=False,
            object_store=object_store)  # fmt: skip
        self._capabilities = EngineCapabilities(name="duckdb", sql_dialect="duckdb")
        # The first transforms find their children ready: one, or one per transform a parallel build runs at once
        # (it gave each fewer threads than there are cores).
        self._workers.prestart(max(1, (os.cpu_count() or 1) // self._sandbox.limits.threads))

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

    # --- Engine protocol -------------------------------------------------------------------------

    def stage_sql(
        self, sql: str, inputs: Mapping[str, Relation], out_dir: Path, *, dialect: str | None = None
    ) -> StagedResult:
        """Run the transform in a locked-down database (:mod:`meshplane.engines.duckdb_sandbox`): it reads its
        inputs only as bound here (governed ports, declared sources) and writes only into ``out_dir``."""
        if dialect and dialect != "duckdb":
            # A product written for another engine (`dialect: spark`) still builds here, translated by sqlglot.
            import sqlglot

            try:
                sql = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
            except sqlglot.errors.SqlglotError as exc:
                raise BuildError(f"SQL does not parse as {dialect}: {exc}") from exc
        _check_select(sql)
        from meshplane.sql import bind_relations, parse_query, render

        arrow: dict[str, pa.Table] = {}
        relations: dict[str, exp.Query] = {}
        files: list[str] = []
        for index, (name, relation) in enumerate(inputs.items()):
            relations[name], paths = _input_select(name, relation, f"__mesh_input_{index}", arrow)
            files.extend(paths)
        try:
            text = render(bind_relations(parse_query(sql), relations))
        except QueryRejected as exc:
            raise BuildError(f"the SQL transform is refused: {exc}") from exc
        return self._stage_isolated(text, files, arrow, out_dir)

    def _stage_isolated(self, sql: str, files: Sequence[str], arrow: Mapping[str, pa.Table],
                        out_dir: Path) -> StagedResult:  # fmt: skip
        """Run the bound transform in a limited child process (memory, time), sandboxed there."""
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        limits = self._sandbox.limits
        encoded = {name: _ipc(table) for name, table in arrow.items()}
        args = (limits, sql, tuple(dict.fromkeys(files)), encoded, str(out_dir), self._compression,
                self._sandbox.object_store, None if self._scratch is None else str(self._scratch))  # fmt: skip
        try:
            target = Path(self._workers.call("build", _stage_in_child, *args))
        except LimitExceeded as exc:
            raise BuildError(f"the SQL transform was stopped: {exc}") from None
        except QueryInterrupted as exc:
            raise BuildError(f"the SQL transform was stopped: {exc}") from None
        except QueryRejected as exc:
            raise BuildError(f"the build sandbox could not be set up: {exc}") from None
        except RemoteError as exc:
            raise BuildError(f"the SQL transform failed: {exc}") from None
        metadata = pq.read_metadata(target)
        return StagedResult(files=(target,), schema=metadata.schema.to_arrow_schema(), row_count=metadata.num_rows)

    @property
    def _workers(self) -> WorkerPool:
        return _build_pool(self._sandbox.limits)

    def stage_python(self, fn: PythonTransform, inputs: Mapping[str, Relation], out_dir: Path) -> StagedResult:
        tables = self.input_tables(inputs, out_dir)
        name = getattr(fn, "__name__", "transform")
        try:
            result = fn(**tables)
        except MeshError:  # the sandboxed transform says itself what failed
            raise
        except Exception as exc:
            raise BuildError(f"Python transform {name}() raised {type(exc).__name__}: {exc}") from exc
        return self.write_arrow(to_arrow_table(result, name), out_dir)

    def input_tables(self, inputs: Mapping[str, Relation], out_dir: Path) -> dict[str, pa.Table]:
        """Each input as the Arrow table a Python transform receives: governed ports read through their
        governed SELECT in the sandbox, sources as declared."""
        from meshplane.sql import render

        tables: dict[str, pa.Table] = {}
        for name, relation in inputs.items():
            if isinstance(relation, ArrowRelation):
                tables[name] = relation.table
                continue
            arrow: dict[str, pa.Table] = {}
            select, paths = _input_select(name, relation, "__mesh_input", arrow)
            with self._sandboxed(paths, out_dir, arrow) as (cur, deadline), deadline:
                tables[name] = self._run(cur, render(select), what=f"reading input {name!r}").to_arrow_table()
        return tables

    def write_arrow(self, table: pa.Table, out_dir: Path) -> StagedResult:
        """Stage an Arrow table (a Python transform's result) as Parquet in ``out_dir``."""
        with self._sandboxed([], out_dir, {"__mesh_result": table}) as (cur, deadline), deadline:
            return self._write(cur, cur.table("__mesh_result"), out_dir)

    @contextmanager
    def _sandboxed(
        self, files: Sequence[str], out_dir: Path, arrow: Mapping[str, pa.Table]
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, AbstractContextManager[None]]]:
        if self._con is None:
            raise BuildError("the DuckDB engine is closed")
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            cur = self._sandbox.connect(list(dict.fromkeys(files)), writable=out_dir)
        except QueryRejected as exc:
            raise BuildError(f"the build sandbox could not be set up: {exc}") from exc
        try:
            for name, table in arrow.items():
                cur.register(name, table)
            yield cur, _deadline(self._sandbox, cur)
        finally:
            cur.close()
            shutil.rmtree(out_dir / ".spill", ignore_errors=True)

    def query(self, sql: str, relations: Mapping[str, Relation]) -> pa.Table:
        _check_select(sql)
        with self._session(relations) as cur:
            return self._run(cur, sql, what="query").to_arrow_table()

    def close(self) -> None:
        self._sandbox.close()
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------------

    @contextmanager
    def _session(self, inputs: Mapping[str, Relation]) -> Iterator[duckdb.DuckDBPyConnection]:
        import duckdb

        if self._con is None:
            raise BuildError("the DuckDB engine is closed")
        cur = self._con.cursor()
        try:
            for name, relation in inputs.items():
                try:
                    if isinstance(relation, ArrowRelation):
                        cur.register(name, relation.table)
                    else:
                        cur.execute(_view_sql(name, relation))
                except duckdb.Error as exc:
                    raise BuildError(f"cannot read input {name!r}: {exc}") from exc
            yield cur
        finally:
            cur.close()  # drops the cursor's temporary views and registrations

    @staticmethod
    def _run(cur: duckdb.DuckDBPyConnection, sql: str, what: str) -> duckdb.DuckDBPyRelation:
        import duckdb

        try:
            rel = cur.sql(sql)
        except duckdb.Error as exc:
            raise BuildError(f"{what} failed: {exc}") from exc
        if rel is None:  # pragma: no cover - _check_select admits only SELECT statements
            raise BuildError(f"{what} returned no relation")
        return rel

    def _write(self, cur: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, out_dir: Path) -> StagedResult:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        target = _write_parquet(cur, rel, out_dir, self._compression)
        metadata = pq.read_metadata(target)
        return StagedResult(files=(target,), schema=metadata.schema.to_arrow_schema(), row_count=metadata.num_rows)


_POOLS: dict[SandboxLimits, WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


_BUILD_CHILD_ENV = {"MESHPLANE_WORKER_PRELOAD": "duckdb,meshplane.engines.duckdb,meshplane.engines.build_databases"}
"""What a build child imports before it says it is ready (a prestarted child then runs its first transform at
once; unpickling the first call imported these, ~0.15 s of a one-shot build's first transforms)."""


def _build_pool(limits: SandboxLimits) -> WorkerPool:
    """The process's pool of limited children that run SQL transforms (shared by engines: a build, a test run
    and the next build reuse warm children; each transform still gets a fresh sandboxed database)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(limits)
        if pool is None:
            # the deadline is the sandbox's (DuckDB interrupts itself); the pool kills a child that does not stop
            pool = _POOLS[limits] = WorkerPool(
                process_limits(limits, grace_seconds=5.0),
                max_workers=2, per_owner=2, keep_idle=2, idle_seconds=120.0, env=_BUILD_CHILD_ENV)  # fmt: skip
        return pool


def _ipc(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes) -> pa.Table:
    # imported here: a child whose transforms read files only never loads pyarrow and numpy (~0.14 s of CPU)
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


def _stage_in_child(limits: SandboxLimits, sql: str, files: tuple[str, ...], arrow: dict[str, bytes],
                    out_dir: str, compression: str, object_store: S3Location | None = None,
                    scratch: str | None = None) -> str:  # fmt: skip
    """In a limited child process: run ``sql`` in a sandboxed database, write its result into ``out_dir``.

    With ``scratch`` (a folder on the staging folders' file system) and no Arrow inputs, the database locked
    down to exactly ``files`` is kept for the next transform over the same files
    (:mod:`meshplane.engines.build_databases`); otherwise each transform gets a fresh one."""
    # the secret is left out of an S3Location's equality: a rotated one must not find the old sandbox
    key = (limits, object_store, object_store.secret_access_key if object_store else None)
    sandbox = _CHILD_SANDBOXES.get(key) or _CHILD_SANDBOXES.setdefault(
        key, DuckDBSandbox(limits, prewarm=False, object_store=object_store)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if scratch is not None and not arrow:
        from meshplane.engines.build_databases import run_kept

        def work(connection: duckdb.DuckDBPyConnection, folder: Path) -> Path:
            with sandbox.deadline(connection):
                rel = DuckDBEngine._run(connection, sql, what="SQL transform")
                return _write_parquet(connection, rel, folder, compression)

        target, missed = run_kept(sandbox, key, files, Path(scratch), lambda: _take_unused(key), work, out)
        if missed:  # the next transform may read other files too: have a database ready for it
            _open_unused_later(key, sandbox)
        return str(target)
    cur = sandbox.connect(list(files), writable=out, unused=_take_unused(key))
    try:
        for name, data in arrow.items():
            cur.register(name, _from_ipc(data))
        with sandbox.deadline(cur):
            rel = DuckDBEngine._run(cur, sql, what="SQL transform")
            return str(_write_parquet(cur, rel, out, compression))
    finally:
        cur.close()
        shutil.rmtree(out / ".spill", ignore_errors=True)
        _open_unused_later(key, sandbox)


# The build child keeps its sandbox across transforms, and opens the next transform's database (about 10 ms of
# CPU, more than a tiny transform's query) in the background once a transform is done, while it waits for the
# next one. Without a scratch folder (or with Arrow inputs) each transform gets a database of its own: opened
# for it, never used before, locked down to its files and its staging folder; with one, build_databases keeps
# the database for the next transform over exactly the same files.
_ChildKey = tuple[SandboxLimits, S3Location | None, str | None]
_CHILD_SANDBOXES: dict[_ChildKey, DuckDBSandbox] = {}
_CHILD_UNUSED: dict[_ChildKey, tuple[threading.Thread, list[Any]]] = {}


@atexit.register
def _close_unused() -> None:
    """A database still open when the interpreter exits aborts it (DuckDB's threads): close the unused ones."""
    for key in list(_CHILD_UNUSED):
        database = _take_unused(key)
        if database is not None:
            database.close()


def _take_unused(key: _ChildKey) -> duckdb.DuckDBPyConnection | None:
    pending = _CHILD_UNUSED.pop(key, None)
    if pending is None:
        return None
    thread, opened = pending
    thread.join()
    return opened[0] if opened else None  # opening failed: connect opens one itself and reports why


def _open_unused_later(key: _ChildKey, sandbox: DuckDBSandbox) -> None:
    opened: list[Any] = []

    def work() -> None:
        with contextlib.suppress(Exception):
            opened.append(sandbox.open_unused())

    thread = threading.Thread(target=work, name="meshplane-build-next-database", daemon=True)
    thread.start()
    _CHILD_UNUSED[key] = (thread, opened)


def _write_parquet(cur: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, out_dir: Path,
                   compression: str) -> Path:  # fmt: skip
    import duckdb

    casts = {c: _PORTABLE[str(t)] for c, t in zip(rel.columns, rel.types, strict=True) if str(t) in _PORTABLE}
    if casts:
        import sqlglot.expressions as exp

        items = [
            exp.cast(exp.column(c, quoted=True), casts[c]).as_(c, quoted=True)
            if c in casts
            else exp.column(c, quoted=True)
            for c in rel.columns
        ]
        rel = rel.project(*(duckdb.SQLExpression(item.sql("duckdb")) for item in items))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"part-00000-{uuid.uuid4().hex}.parquet"
    try:
        # The relation API issues DuckDB's COPY ... TO ... (FORMAT parquet) without re-rendering
        # the user's SQL; measured as fast as a hand-written COPY.
        rel.to_parquet(str(target), compression=compression)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        target.unlink(missing_ok=True)
        raise BuildError(f"transform failed: {exc}") from exc
    return target


def _check_select(sql: str) -> None:
    """Refuse anything but one SELECT before DuckDB runs it (``cur.sql`` executes DDL eagerly)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise BuildError(f"SQL does not parse: {exc}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        raise BuildError(f"expected exactly one SELECT statement, got {kinds}")


def _input_select(name: str, relation: Relation, arrow_name: str,
                  arrow: dict[str, pa.Table]) -> tuple[exp.Query, tuple[str, ...]]:  # fmt: skip
    """The subquery that reads one input, and the files it opens."""
    import sqlglot.expressions as exp

    from meshplane.sql import parse_query

    if isinstance(relation, GovernedRelation):
        try:
            return parse_query(relation.select).assert_is(exp.Query), tuple(relation.files)
        except QueryRejected as exc:  # pragma: no cover - the access layer renders it
            raise BuildError(f"input {name!r}: the governed read could not be prepared: {exc}") from exc
    if isinstance(relation, ArrowRelation):
        arrow[arrow_name] = relation.table
        return exp.select("*").from_(exp.to_identifier(arrow_name, quoted=True)), ()
    reader = _READERS.get(relation.format)
    if reader is None:
        raise BuildError(f"input {name!r}: unsupported file format {relation.format!r}")
    args: list[exp.Expression] = [exp.Array(expressions=[exp.Literal.string(str(p)) for p in relation.paths])]
    for key, value in relation.options.items():
        args.append(exp.PropertyEQ(this=exp.to_identifier(key), expression=_literal(value)))
    select = exp.select("*").from_(exp.Anonymous(this=reader, expressions=args))
    return select, tuple(str(p) for p in relation.paths)


def _view_sql(name: str, relation: FileRelation | GovernedRelation) -> str:
    """``CREATE TEMP VIEW "name" AS <the input's select>`` (for the platform's own queries, e.g. checks)."""
    import sqlglot.expressions as exp

    select, _ = _input_select(name, relation, "", {})
    view = exp.Create(
        this=exp.to_identifier(name, quoted=True),
        kind="VIEW",
        replace=True,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        expression=select,
    )
    return view.sql("duckdb")


@contextmanager
def _deadline(sandbox: DuckDBSandbox, cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    try:
        with sandbox.deadline(cur):
            yield
    except QueryInterrupted as exc:
        raise BuildError(f"the transform was stopped: {exc}") from exc


def _literal(value: object) -> exp.Expression:
    import sqlglot.expressions as exp

    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))
