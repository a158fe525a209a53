"""Which engine runs a product, and with which options from mesh.yaml."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from meshplane.engines import get_engine
from meshplane.engines.base import Engine
from meshplane.engines.limits import parse_bytes
from meshplane.engines.python_sandbox import PythonLimits
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.storage.objectstore import S3Location

__all__ = ["BUILD_SCRATCH", "engine_for", "make_engine", "python_limits"]

BUILD_SCRATCH = ".build-databases"
"""The warehouse's folder of build children's scratch folders (one per kept database; removed with it)."""


def engine_for(graph: MeshGraph, override: str | None) -> Callable[[ProductSpec], str]:
    """The engine of each product: the caller's override, else the product's hint, else mesh.yaml's default."""
    default = override or graph.spec.config.platform.engine

    def choose(product: ProductSpec) -> str:
        return override or product.engine or default

    return choose


def make_engine(
    graph: MeshGraph,
    name: str,
    object_store: S3Location | None = None,
    warehouse: Path | None = None,
    *,
    concurrent: int = 1,
) -> Engine:
    """An engine configured from the mesh.yaml platform section named after it (``platform.spark``),
    able to read the warehouse's objects when it is on S3. ``warehouse``: the local folder runs are staged
    in; DuckDB's build children keep reusable databases' scratch folders there (same file system).
    ``concurrent``: how many products the build runs at once; their DuckDB transforms share the cores."""
    section = getattr(graph.spec.config.platform, name, None)
    options: dict[str, Any] = section.model_dump() if isinstance(section, BaseModel) else {}
    if object_store is not None:
        options["object_store"] = object_store
    if name == "duckdb":  # transforms run in limited child processes under the mesh's build limits
        limits = graph.spec.config.platform.build_limits
        options.update(memory_limit=limits.memory, timeout_seconds=limits.timeout_seconds)
        if warehouse is not None:
            options["scratch"] = warehouse / BUILD_SCRATCH
        if concurrent > 1:
            # Each concurrent transform is its own DuckDB (a child process): N of them with all cores each
            # would run N times the threads there are cores for, and contention cost a TPC-H build ~8 % more
            # CPU. Shared out, the build as a whole still uses every core.
            options["threads"] = max(1, (os.cpu_count() or 1) // concurrent)
    return get_engine(name, **options)


def python_limits(graph: MeshGraph) -> PythonLimits:
    """The limits of a Python transform run, from mesh.yaml's ``platform.build_limits``."""
    limits = graph.spec.config.platform.build_limits
    return PythonLimits(memory_bytes=parse_bytes(limits.memory) + 2 * 2**30, cpu_seconds=limits.cpu_seconds,
                        wall_seconds=limits.timeout_seconds, confined=limits.confine_python)  # fmt: skip
