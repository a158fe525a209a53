"""The Spark engine: the same products on Apache Spark (local mode, a cluster, or Spark Connect).

One SparkContext (one JVM) serves the whole process: every :class:`SparkEngine` works in its own
``newSession()`` of it (its own SQL conf and temporary views), so engines are cheap to create and
close. The JVM is stopped at interpreter exit or by :func:`stop_shared_context`. Spark Connect
(``sc://host:15002``) shares one remote session per URL instead.

- **SQL**: transforms are written in DuckDB's dialect (the mesh's) and transpiled with sqlglot; pass
  ``dialect="spark"`` for SQL already in Spark's. Input names are rewritten in the syntax tree to
  temporary views private to the call, so concurrent calls never see each other's inputs.
- **Inputs**: Parquet files (upstream Iceberg snapshots) are scanned by Spark itself, no extra jars.
  CSV and JSON sources are read with DuckDB's readers (the exact types the DuckDB engine infers) and
  handed over as Arrow, like :class:`ArrowRelation` inputs.
- **Python transforms** get ``pyarrow.Table`` inputs, except parameters annotated as a Spark
  ``DataFrame`` (``def transform(orders: DataFrame)``), which get one. They may return a Spark
  DataFrame or anything :func:`to_arrow_table` accepts. (Builds hand the engine only confined
  transforms, which take and return Arrow; :func:`meshplane.builds.execute.python_transform` refuses a
  transform file that asks for DataFrames. The DataFrame hand-over serves code calling the engine directly.)
- **Output**: Parquet written by Spark into the staging folder, Iceberg-friendly (timestamps as
  microseconds, zoned ones adjusted to UTC; no INT96), coalesced to about ``target_file_bytes`` per file.
- **Queries** (contract checks) are Spark SQL (``capabilities.sql_dialect``) and come back as Arrow.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import math
import re
import shutil
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ParseError

from meshplane.engines.base import (
    ArrowRelation,
    EngineCapabilities,
    FileRelation,
    PythonTransform,
    Relation,
    StagedResult,
)
from meshplane.engines.convert import to_arrow_table
from meshplane.errors import BuildError, EngineUnavailable, MeshError
from meshplane.storage.objectstore import S3Location, is_remote

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    from pyspark.sql import DataFrame, SparkSession

    from meshplane.engines.duckdb import DuckDBEngine

__all__ = ["SparkEngine", "stop_shared_context"]

# Settings every meshplane Spark session gets; mesh.yaml's platform.spark.conf overrides them.
DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # Mesh products are mostly small: a few shuffle partitions, merged further by adaptive execution.
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    # Iceberg reads neither INT96 nor nanoseconds: microseconds, zoned ones adjusted to UTC.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_WITH = "with_" if "with_" in exp.Select.arg_types else "with"  # sqlglot renamed the key in 28


# --- the shared context ----------------------------------------------------------------------------


class _SharedContext:
    """The process's one Spark root session, created on first use; engines take new sessions of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: SparkSession | None = None
        self._master: str | None = None

    def session(self, master: str, conf: Mapping[str, str]) -> SparkSession:
        with self._lock:
            if self._root is not None and self._master != master:
                raise EngineUnavailable(
                    f"this process already runs Spark with master {self._master!r}; one process holds one "
                    f"Spark context, so it cannot also use {master!r}"
                )
            if self._root is None:
                self._root = _start(master, conf)
                self._master = master
                atexit.register(self.stop)
            # Spark Connect: one remote session per process; classic: a new session of the one context.
            session = self._root if master.startswith("sc://") else self._root.newSession()
            for key, value in conf.items():
                if key.startswith("spark.sql.") and not _is_static(key):
                    session.conf.set(key, value)
            return session

    def stop(self) -> None:
        with self._lock:
            if self._root is not None:
                self._root.stop()
                self._root = None
                self._master = None


def _is_static(key: str) -> bool:
    """Static SQL settings (warehouse dir, extensions, ...) can only be set before the context starts."""
    return key.startswith(
        (
            "spark.sql.warehouse",
            "spark.sql.extensions",
            "spark.sql.catalogImplementation",
            "spark.sql.legacy.sessionInitWithConfigDefaults",
        )
    )


def _start(master: str, conf: Mapping[str, str]) -> SparkSession:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        from pyspark.sql import SparkSession

        builder: Any = SparkSession.builder.appName("meshplane")
        if master.startswith("sc://"):
            builder = builder.remote(master)
        else:
            # Python workers (UDFs in Spark-DataFrame transforms) run this interpreter.
            builder = builder.master(master).config("spark.pyspark.python", sys.executable)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session: SparkSession = builder.getOrCreate()
        except Exception as exc:  # JVM missing, master unreachable, bad conf
            raise EngineUnavailable(f"cannot start Spark ({master}): {_first_line(exc)}") from exc
    if not master.startswith("sc://"):
        session.sparkContext.setLogLevel("ERROR")
    # PySpark logs every analysis error as JSON on stderr; the engine raises it as a BuildError instead.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return session


_SHARED = _SharedContext()


def stop_shared_context() -> None:
    """Stop the process's Spark context (and its JVM); the next engine use starts a new one."""
    _SHARED.stop()


# --- the engine ------------------------------------------------------------------------------------


class SparkEngine:
    """Runs SQL and Python transforms with PySpark; see :class:`meshplane.engines.base.Engine`."""

    def __init__(
        self,
        *,
        master: str = "local[2]",
        conf: Mapping[str, Any] | None = None,
        target_file_bytes: int = 256 * 1024 * 1024,
        object_store: S3Location | None = None,
    ) -> None:
        # Spark has no S3 client here (hadoop-aws is not installed): published inputs on S3 are copied to local
        # Parquet by DuckDB (httpfs, the warehouse's credentials) before Spark reads them, and Spark's output is
        # staged locally like every engine's; the platform publishes it to the bucket.
        self._object_store = object_store
        self._master = master
        self._conf = {**DEFAULT_CONF, **{str(k): str(v) for k, v in (conf or {}).items()}}
        self._target_file_bytes = target_file_bytes
        self._session: SparkSession | None = None
        self._duckdb: DuckDBEngine | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._capabilities = EngineCapabilities(
            name="spark",
            sql_dialect="spark",
            # Each call binds its inputs under private view names; Spark schedules concurrent jobs.
            parallel_builds=True,
            dataframe_transforms=True,
        )

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._capabilities

    @property
    def session(self) -> SparkSession:
        """This engine's Spark session (started on first use)."""
        with self._lock:
            if self._closed:
                raise BuildError("the Spark engine is closed")
            if self._session is None:
                self._session = _SHARED.session(self._master, self._conf)
            return self._session

    # --- Engine protocol -------------------------------------------------------------------------

    def stage_sql(
        self, sql: str, inputs: Mapping[str, Relation], out_dir: Path, *, dialect: str | None = None
    ) -> StagedResult:
        """Run one SELECT (DuckDB's dialect unless ``dialect`` says otherwise) and stage its rows."""
        dialect = dialect or "duckdb"
        tree = _parse_select(sql, dialect)
        _guard_transform(tree, inputs)
        with self._bound(inputs) as views:
            frame = self._sql(tree, views, what="SQL transform", dialect=dialect)
            return self._write(frame, out_dir)

    def stage_python(self, fn: PythonTransform, inputs: Mapping[str, Relation], out_dir: Path) -> StagedResult:
        name = getattr(fn, "__name__", "transform")
        wants_spark = _spark_parameters(fn, inputs)
        with self._scratch() as scratch:
            args: dict[str, Any] = {
                key: self._frame(key, rel, scratch) if key in wants_spark else self._arrow(key, rel)
                for key, rel in inputs.items()
            }
            try:
                result = fn(**args)
            except MeshError:  # the sandboxed transform says itself what failed
                raise
            except Exception as exc:
                raise BuildError(f"Python transform {name}() raised {type(exc).__name__}: {exc}") from exc
            frame = result if _is_spark_frame(result) else self._from_arrow(to_arrow_table(result, name))
            return self._write(frame, out_dir)

    def query(self, sql: str, relations: Mapping[str, Relation], *, dialect: str | None = None) -> pa.Table:
        """A read-only query in Spark SQL (or ``dialect``), returned as Arrow."""
        dialect = dialect or "spark"
        tree = _parse_select(sql, dialect)
        with self._bound(relations) as views:
            frame = self._sql(tree, views, what="query", dialect=dialect)
            try:
                table: pa.Table = frame.toArrow()
            except Exception as exc:
                raise BuildError(f"query failed: {_first_line(exc)}") from exc
            return table

    def close(self) -> None:
        """Release this engine's session; the shared context keeps running for the next engine."""
        with self._lock:
            self._closed = True
            self._session = None
            if self._duckdb is not None:
                self._duckdb.close()
                self._duckdb = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inputs ----------------------------------------------------------------------------------

    @contextmanager
    def _bound(self, inputs: Mapping[str, Relation]) -> Iterator[dict[str, str]]:
        """Register each input as a temporary view with a private name; yield {input name: view name}."""
        token = uuid.uuid4().hex[:10]
        views: dict[str, str] = {}
        with self._scratch() as scratch:
            try:
                for name, relation in inputs.items():
                    view = f"__mp_{token}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"
                    self._frame(name, relation, scratch).createOrReplaceTempView(view)
                    views[name] = view
                yield views
            finally:
                for view in views.values():
                    with suppress(Exception):  # a view that cannot be dropped dies with its session
                        self.session.catalog.dropTempView(view)

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        """A local folder for inputs copied out of object storage; it lives as long as the lazy frames reading
        it (until the call's result is written), then goes."""
        folder = Path(tempfile.mkdtemp(prefix="meshplane-spark-inputs-"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _frame(self, name: str, relation: Relation, scratch: Path) -> DataFrame:
        try:
            if isinstance(relation, FileRelation) and relation.format == "parquet":
                paths = [str(p) for p in relation.paths]
                if any(is_remote(p) for p in paths):
                    local = self._duckdb_engine().stage_sql(
                        "SELECT * FROM input", {"input": relation}, scratch / uuid.uuid4().hex
                    )
                    return self.session.read.parquet(*(str(p) for p in local.files))
                reader = self.session.read
                if relation.options.get("union_by_name"):
                    reader = reader.option("mergeSchema", "true")
                return reader.parquet(*paths)
            return self._from_arrow(self._arrow(name, relation))
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(f"cannot read input {name!r}: {_first_line(exc)}") from exc

    def _arrow(self, name: str, relation: Relation) -> pa.Table:
        """An input as Arrow, read by DuckDB exactly as the DuckDB engine reads it."""
        if isinstance(relation, ArrowRelation):
            return relation.table
        return self._duckdb_engine().query("SELECT * FROM input", {"input": relation})

    def _duckdb_engine(self) -> DuckDBEngine:
        """The DuckDB engine that reads inputs Spark cannot (other formats, objects on S3)."""
        with self._lock:
            if self._duckdb is None:
                from meshplane.engines.duckdb import DuckDBEngine

                self._duckdb = DuckDBEngine(threads=2, object_store=self._object_store)
            return self._duckdb

    def _from_arrow(self, table: pa.Table) -> DataFrame:
        from pyspark.sql.pandas.types import from_arrow_schema

        table = _sparkable(table)
        try:
            # Naive Arrow timestamps are TIMESTAMP_NTZ (DuckDB's TIMESTAMP), zoned ones TIMESTAMP (LTZ).
            schema = from_arrow_schema(table.schema, prefer_timestamp_ntz=True)
        except Exception as exc:
            raise BuildError(f"Spark cannot hold the Arrow schema {table.schema}: {_first_line(exc)}") from exc
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
            return self.session.createDataFrame(table, schema=schema)

    # --- running and writing ---------------------------------------------------------------------

    def _sql(self, tree: exp.Expression, views: Mapping[str, str], what: str, dialect: str) -> DataFrame:
        try:
            tree = _to_spark(tree, views, duckdb_semantics=dialect == "duckdb")
            if dialect != "spark":
                tree = self._unions_by_name(tree)
            return self.session.sql(tree.sql("spark"))
        except Exception as exc:
            raise BuildError(f"{what} failed on Spark: {_first_line(exc)}") from exc

    def _unions_by_name(self, tree: exp.Expression) -> exp.Expression:
        """``UNION [ALL] BY NAME`` (DuckDB) as a plain union of explicit column lists, asking Spark for each
        side's columns: the left side's columns first, then the right's new ones, NULL where a side lacks one."""
        if not any(u.args.get("by_name") for u in tree.find_all(exp.Union)):
            return tree
        with_clause = tree.args.get(_WITH)
        ctes: list[exp.CTE] = []
        if with_clause is not None:
            tree.set(_WITH, None)
            for cte in with_clause.expressions:
                cte.set("this", self._rewrite_unions(cte.this, ctes))
                ctes.append(cte)
        tree = self._rewrite_unions(tree, ctes)
        if with_clause is not None:
            tree.set(_WITH, with_clause)
        return tree

    def _rewrite_unions(self, node: exp.Expression, ctes: list[exp.CTE]) -> exp.Expression:
        def columns(side: exp.Expression) -> list[str]:
            probe = (
                exp.select("*")
                .from_(exp.Subquery(this=side.copy(), alias=exp.TableAlias(this=exp.to_identifier("_side"))))
                .limit(0)
            )
            if ctes:
                probe.set(_WITH, exp.With(expressions=[c.copy() for c in ctes]))
            return list(self.session.sql(probe.sql("spark")).columns)

        def padded(side: exp.Expression, have: list[str], names: list[str]) -> exp.Expression:
            present = {c.lower() for c in have}
            items = [
                exp.column(n, quoted=True) if n.lower() in present else exp.alias_(exp.Null(), n, quoted=True)
                for n in names
            ]
            return exp.select(*items).from_(
                exp.Subquery(this=side, alias=exp.TableAlias(this=exp.to_identifier("_side")))
            )

        unions = [u for u in node.find_all(exp.Union) if u.args.get("by_name")]
        for union in reversed(unions):  # deepest first: a chain's inner unions are resolved before outer ones
            left, right = union.this, union.expression
            left_cols, right_cols = columns(left), columns(right)
            names = left_cols + [c for c in right_cols if c.lower() not in {x.lower() for x in left_cols}]
            plain = exp.Union(
                this=padded(left, left_cols, names),
                expression=padded(right, right_cols, names),
                distinct=union.args.get("distinct"),
            )
            if union is node:
                node = plain
            else:
                union.replace(plain)
        return node

    def _write(self, frame: DataFrame, out_dir: Path) -> StagedResult:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        out_dir.mkdir(parents=True, exist_ok=True)
        frame = _portable(frame)
        files = self._estimate_files(frame)
        if files is not None:
            frame = frame.coalesce(files)  # only ever lowers the number of files (narrow, no shuffle)
        scratch = out_dir / f"_spark-{uuid.uuid4().hex}"
        try:
            frame.write.mode("errorifexists").option("compression", "snappy").parquet(str(scratch))
        except Exception as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise BuildError(f"transform failed on Spark: {_first_line(exc)}") from exc
        staged: list[Path] = []
        tag = uuid.uuid4().hex
        for index, part in enumerate(sorted(scratch.glob("part-*.parquet"))):
            target = out_dir / f"part-{index:05d}-{tag}.parquet"
            part.replace(target)
            staged.append(target)
        shutil.rmtree(scratch, ignore_errors=True)  # _SUCCESS, .crc checksums
        if not staged:  # pragma: no cover - Spark writes one schema-only file for an empty result
            raise BuildError("Spark wrote no Parquet file")
        metas = [pq.read_metadata(f) for f in staged]
        return StagedResult(
            files=tuple(staged),
            schema=metas[0].schema.to_arrow_schema().remove_metadata(),
            row_count=sum(m.num_rows for m in metas),
        )

    def _estimate_files(self, frame: DataFrame) -> int | None:
        """About one file per ``target_file_bytes`` of the optimiser's size estimate (classic Spark only)."""
        try:
            size = int(str(frame._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        except Exception:  # Spark Connect has no JVM handle: keep Spark's own partitioning
            return None
        files = max(1, math.ceil(size / self._target_file_bytes))
        # Joins often estimate absurd sizes (up to Long.MaxValue): then keep Spark's partitioning.
        return files if files <= 10_000 else None


# --- helpers ---------------------------------------------------------------------------------------


_SPARK_DENIED = frozenset({"reflect", "java_method", "try_reflect", "input_file_name", "input_file_block_start",
                           "input_file_block_length", "current_user", "user", "session_user"})  # fmt: skip


def _guard_transform(tree: exp.Expression, inputs: Mapping[str, Relation]) -> None:
    """A transform names only its (already governed) inputs and CTEs: no path, table, catalog object, or
    function that reads files, settings or the JVM -- the same guard as on DuckDB, plus Spark's own."""
    from meshplane.errors import QueryRejected
    from meshplane.sql import bind_relations
    from meshplane.sql.guard import function_names

    try:
        bind_relations(tree.copy(), {name: exp.select("*").from_(exp.to_identifier(name)) for name in inputs})
    except QueryRejected as exc:
        raise BuildError(f"the SQL transform is refused: {exc}") from None
    for node in tree.find_all(exp.Func):
        denied = function_names(node) & _SPARK_DENIED
        if denied:
            raise BuildError(f"the SQL transform is refused: function {sorted(denied)[0]}() is not allowed")


def _parse_select(sql: str, dialect: str) -> exp.Expression:
    """Exactly one query statement (SELECT, UNION, ... ); DDL and DML are refused before Spark sees them."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise BuildError(f"SQL does not parse ({dialect}): {_first_line(exc)}") from exc
    kinds = [type(s).__name__.upper() for s in statements]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise BuildError(f"expected exactly one SELECT statement, got {', '.join(kinds) or 'nothing'}")
    query: exp.Expression = cast(exp.Expression, statements[0])
    return query


def _to_spark(tree: exp.Expression, views: Mapping[str, str], *, duckdb_semantics: bool) -> exp.Expression:
    """Point unqualified table references at the inputs' private views, keeping the input name as alias.

    With ``duckdb_semantics`` (SQL written for DuckDB) also keep DuckDB's meaning where sqlglot keeps
    only the syntax (see :func:`_duckdb_meaning`).
    """
    by_name = {name.lower(): view for name, view in views.items()}
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}

    def rename(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Table)
            and not node.args.get("db")
            and not node.args.get("catalog")
            and isinstance(node.this, exp.Identifier)
        ):
            key = node.name.lower()
            if key in by_name and key not in ctes:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name, quoted=True))
                return exp.Table(this=exp.to_identifier(by_name[key], quoted=True), alias=alias)
        return node

    tree = tree.copy()
    if duckdb_semantics:
        tree = tree.transform(_duckdb_meaning, copy=False)
    return tree.transform(rename, copy=False)


def _duckdb_meaning(node: exp.Expression) -> exp.Expression:
    """DuckDB semantics in Spark SQL, one node at a time.

    - ``/`` and ``avg`` compute in DOUBLE, even on decimals (Spark would keep DECIMAL), and ``round`` of such a
      DOUBLE rounds the binary value as DuckDB does;
    - ``list[i]`` is ``TRY_ELEMENT_AT(list, i)``: NULL out of bounds (Spark's ANSI mode would fail);
    - ``strptime(s, [f1, f2])`` tries each format; every ``strptime`` gives TIMESTAMP_NTZ (DuckDB's TIMESTAMP);
    - ``date_sub(part, a, b)`` counts complete parts (Spark's TIMESTAMPDIFF), while ``date_diff(part, a, b)``
      counts boundaries crossed (years, quarters, months, days), which Spark's DATEDIFF does not.
    """
    if isinstance(node, exp.Div | exp.Avg):
        node.set("this", exp.cast(node.this, exp.DataType.Type.DOUBLE))
        return node
    if isinstance(node, exp.Round) and _is_double(node.this) and isinstance(node.args.get("decimals"), exp.Literal):
        # DuckDB rounds a DOUBLE as round(x * 10^n) / 10^n; Spark rounds its decimal text (2.425 -> 2.43).
        scale = exp.Literal.number(10 ** int(node.args["decimals"].this))
        scaled = exp.Round(this=exp.Mul(this=exp.Paren(this=_deep(node.this)), expression=scale.copy()))
        return exp.Paren(this=exp.Div(this=scaled, expression=scale))
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        index = node.expressions[0]
        if not isinstance(index, exp.Slice) and not (isinstance(index, exp.Literal) and index.is_string):
            # The parsed index is 0-based (DuckDB's 1 is stored as 0, its -1 as -2); element_at is 1-based.
            one_based = (
                exp.Literal.number(int(index.this) + 1)
                if isinstance(index, exp.Literal)
                else exp.Add(this=_deep(index), expression=exp.Literal.number(1))
            )
            return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[_deep(node.this), one_based])
        return node
    if isinstance(node, exp.StrToTime):
        return _strptime(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "date_sub" and len(node.expressions) == 3:
        part, start, end = node.expressions
        if isinstance(part, exp.Literal) and part.is_string:
            unit = exp.Var(this=part.this.upper())
            return exp.Anonymous(this="TIMESTAMPDIFF", expressions=[unit, _deep(start), _deep(end)])
        return node
    if isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary"):
        return _boundaries(node)
    return node


def _deep(node: exp.Expression) -> exp.Expression:
    """Apply :func:`_duckdb_meaning` below a node that replaced another (transform skips its children)."""
    return node.transform(_duckdb_meaning, copy=False)


def _is_double(node: exp.Expression) -> bool:
    """Whether DuckDB computes ``node`` in DOUBLE: it divides, averages or casts to a floating type."""
    if node.find(exp.Div, exp.Avg) is not None:
        return True
    return any(c.to.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT) for c in node.find_all(exp.Cast))


def _strptime(node: exp.StrToTime) -> exp.Expression:
    from sqlglot.dialects.spark import Spark
    from sqlglot.time import format_time

    value = _deep(node.this)
    formats = node.args.get("format")
    literals = formats.expressions if isinstance(formats, exp.Array) else [formats]
    if not all(isinstance(f, exp.Literal) and f.is_string for f in literals):
        return node
    ntz = exp.DataType.build("TIMESTAMP_NTZ", dialect="spark")

    def parse(fmt: exp.Expression | None, function: str) -> exp.Expression:
        assert fmt is not None
        # DuckDB's parser accepts unpadded numbers for %d, %m, ...; so do Spark's one-letter patterns.
        lenient = re.sub(r"%([dmHMSIj])", r"%-\1", fmt.name)
        spark_format = format_time(lenient, Spark.INVERSE_TIME_MAPPING, Spark.INVERSE_TIME_TRIE)
        call = exp.Anonymous(this=function, expressions=[value.copy(), exp.Literal.string(spark_format or "")])
        return exp.Cast(this=call, to=ntz.copy())

    if len(literals) == 1:
        return parse(literals[0], "TO_TIMESTAMP")
    return exp.Coalesce(
        this=parse(literals[0], "TRY_TO_TIMESTAMP"), expressions=[parse(f, "TRY_TO_TIMESTAMP") for f in literals[1:]]
    )


def _boundaries(node: exp.DateDiff) -> exp.Expression:
    end, start = _deep(node.this), _deep(node.expression)
    unit = node.unit.name.upper() if node.unit is not None else "DAY"
    if unit == "DAY":
        return exp.Anonymous(this="DATEDIFF", expressions=[exp.cast(end, "date"), exp.cast(start, "date")])
    per_year = {"YEAR": 1, "QUARTER": 4, "MONTH": 12}.get(unit)
    if per_year is None:
        return node  # hours and finer: sqlglot's DATEDIFF (complete units) is left as written

    def ordinal(value: exp.Expression) -> exp.Expression:
        years: exp.Expression = exp.Year(this=value.copy())
        if per_year == 1:
            return years
        within = exp.Quarter(this=value.copy()) if per_year == 4 else exp.Month(this=value.copy())
        return exp.Paren(
            this=exp.Add(this=exp.Mul(this=years, expression=exp.Literal.number(per_year)), expression=within)
        )

    return exp.Paren(this=exp.Sub(this=ordinal(end), expression=ordinal(start)))


def _portable(frame: DataFrame) -> DataFrame:
    """Cast types Parquet or Iceberg cannot hold: untyped NULL columns become INT (as in DuckDB)."""
    from pyspark.sql.functions import col
    from pyspark.sql.types import NullType

    fields = frame.schema.fields
    if not any(isinstance(f.dataType, NullType) for f in fields):
        return frame
    return frame.select(
        *(
            col(f"`{f.name}`").cast("int").alias(f.name) if isinstance(f.dataType, NullType) else col(f"`{f.name}`")
            for f in fields
        )
    )


def _sparkable(table: pa.Table) -> pa.Table:
    """Arrow types Spark does not read, cast to ones it does (large/view strings, dictionaries, unsigned ints)."""
    import pyarrow as pa

    def fix(t: pa.DataType) -> pa.DataType:
        if pa.types.is_dictionary(t):
            return fix(t.value_type)
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_uint8(t) or pa.types.is_uint16(t):
            return pa.int32()
        if pa.types.is_uint32(t):
            return pa.int64()
        if pa.types.is_uint64(t):
            return pa.decimal128(20, 0)
        if pa.types.is_timestamp(t) and t.unit == "ns":
            return pa.timestamp("us", t.tz)
        if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
            return pa.list_(pa.field(t.value_field.name, fix(t.value_type), t.value_field.nullable))
        if pa.types.is_list(t):
            return pa.list_(pa.field(t.value_field.name, fix(t.value_type), t.value_field.nullable))
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, fix(f.type), f.nullable) for f in t])
        if pa.types.is_map(t):
            return pa.map_(fix(t.key_type), fix(t.item_type))
        return t

    target = pa.schema([pa.field(f.name, fix(f.type), f.nullable) for f in table.schema])
    if target.equals(table.schema, check_metadata=False):
        return table
    try:
        return table.cast(target, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise BuildError(f"cannot convert {table.schema} for Spark: {exc}") from exc


def _is_spark_frame(value: object) -> bool:
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.startswith("pyspark.sql")


def _spark_parameters(fn: PythonTransform, inputs: Mapping[str, Relation]) -> set[str]:
    """Inputs whose parameter is annotated as a Spark DataFrame (``**inputs: DataFrame`` covers all)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return set()
    names: set[str] = set()
    namespace = getattr(fn, "__globals__", {})
    for parameter in signature.parameters.values():
        if not _is_spark_annotation(parameter.annotation, namespace):
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names.update(inputs)
        else:
            names.add(parameter.name)
    return names


def _is_spark_annotation(annotation: object, namespace: Mapping[str, Any]) -> bool:
    if annotation is inspect.Parameter.empty:
        return False
    if isinstance(annotation, str):  # postponed annotations: resolve the name in the transform's module
        head, _, rest = annotation.partition(".")
        value = namespace.get(head)
        for part in rest.split(".") if rest else ():
            value = getattr(value, part, None)
        if value is None:
            return "pyspark" in annotation and annotation.endswith("DataFrame")
        annotation = value
    return (
        isinstance(annotation, type)
        and annotation.__name__ == "DataFrame"
        and annotation.__module__.startswith("pyspark.sql")
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
