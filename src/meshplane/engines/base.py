"""The engine contract: what the builder and the contract checks ask of any execution engine.

An engine runs a transform over input relations and *stages* its result as Parquet files in a folder
it is given (storage publishes them later); it also answers read-only queries as Arrow tables.
Engines declare what they can do in :class:`EngineCapabilities` so callers never branch on names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "ArrowRelation",
    "Engine",
    "EngineCapabilities",
    "FileFormat",
    "FileRelation",
    "GovernedRelation",
    "PythonTransform",
    "Relation",
    "StagedResult",
]

FileFormat = Literal["parquet", "csv", "json"]
OptionValue = str | int | float | bool


@dataclass(frozen=True)
class FileRelation:
    """Files of one format read as one relation.

    ``options`` are the reader's named parameters in DuckDB's spelling (``delim``, ``header``,
    ``union_by_name``, ``format`` for JSON, ...); other engines translate the ones they support.
    """

    paths: tuple[Path | str, ...]  # local paths, or object URIs (``s3://``) kept as written
    format: FileFormat = "parquet"
    options: Mapping[str, OptionValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("a FileRelation needs at least one file")
        object.__setattr__(
            self,
            "paths",
            tuple(p if isinstance(p, Path) or (isinstance(p, str) and "://" in p) else Path(p) for p in self.paths),
        )


@dataclass(frozen=True)
class ArrowRelation:
    """An in-memory Arrow table (a PostgreSQL source, a test fixture)."""

    table: pa.Table


@dataclass(frozen=True)
class GovernedRelation:
    """A port as one reader may see it: ``select`` is the access layer's governed SELECT (DuckDB dialect:
    granted columns, masks, the row filter) over ``files``. Engines read the files only through it."""

    select: str
    files: tuple[str, ...]
    """Local paths or ``s3://`` URIs, as the access decision listed them."""
    address: str = ""


Relation = FileRelation | ArrowRelation | GovernedRelation

# A Python transform: called with one keyword argument (a pyarrow.Table) per input; returns a
# pyarrow Table or RecordBatchReader, a DuckDB relation, or a Polars or pandas DataFrame.
PythonTransform = Callable[..., Any]


@dataclass(frozen=True)
class StagedResult:
    """Parquet files an engine wrote into the staging folder, not yet published."""

    files: tuple[Path, ...]
    schema: pa.Schema
    row_count: int


@dataclass(frozen=True)
class EngineCapabilities:
    name: str
    sql_dialect: str  # sqlglot dialect of SQL transforms and queries
    # Each flag is read by the builder (meshplane.builds.execute) before it hands the engine work:
    python_transforms: bool = True  # runs `<port>.py` transforms; else a build of one fails, named
    file_formats: frozenset[str] = frozenset({"parquet", "csv", "json"})  # FileRelation formats it reads
    arrow_inputs: bool = True  # accepts ArrowRelation inputs (an empty published snapshot)
    parallel_builds: bool = True  # several stage_* calls may run at once on one engine (threads); else serialised
    dataframe_transforms: bool = False  # hands Python transforms its own DataFrames when they ask (Spark)


@runtime_checkable
class Engine(Protocol):
    """What every engine offers. Implementations: DuckDB (default), Spark (optional extra)."""

    @property
    def capabilities(self) -> EngineCapabilities: ...

    def stage_sql(
        self, sql: str, inputs: Mapping[str, Relation], out_dir: Path, *, dialect: str | None = None
    ) -> StagedResult:
        """Run one SELECT with each input bound as a relation named after its key; write Parquet.

        ``dialect`` is the sqlglot dialect the SQL is written in (DuckDB's when None); an engine
        translates it to its own."""
        ...

    def stage_python(self, fn: PythonTransform, inputs: Mapping[str, Relation], out_dir: Path) -> StagedResult:
        """Call ``fn(**{name: pyarrow.Table})``, convert what it returns, write Parquet."""
        ...

    def query(self, sql: str, relations: Mapping[str, Relation]) -> pa.Table:
        """Run a read-only query over the relations and return the result as Arrow."""
        ...

    def close(self) -> None: ...
