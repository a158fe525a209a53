"""Execution engines behind one protocol; backends are imported only when asked for.

>>> engine = get_engine("duckdb", threads=2)          # doctest: +SKIP
>>> engine.capabilities.python_transforms              # doctest: +SKIP
True

A missing optional backend raises :class:`~meshplane.errors.EngineUnavailable` with the exact
``pip install`` line, e.g. ``pip install "meshplane[spark]"``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from meshplane.engines.base import (
    ArrowRelation,
    Engine,
    EngineCapabilities,
    FileFormat,
    FileRelation,
    GovernedRelation,
    PythonTransform,
    Relation,
    StagedResult,
)
from meshplane.errors import EngineUnavailable

__all__ = [
    "ENGINES",
    "ArrowRelation",
    "Engine",
    "EngineCapabilities",
    "EngineSpec",
    "FileFormat",
    "FileRelation",
    "GovernedRelation",
    "PythonTransform",
    "Relation",
    "StagedResult",
    "available_engines",
    "get_engine",
]


@dataclass(frozen=True)
class EngineSpec:
    """Where an engine lives and what it needs installed."""

    module: str  # meshplane module defining the engine class
    cls: str
    requires: str  # top-level package that must be importable
    extra: str | None  # the meshplane extra that installs it; None for core dependencies

    @property
    def install_hint(self) -> str:
        return f'pip install "meshplane[{self.extra}]"' if self.extra else "pip install --force-reinstall meshplane"


ENGINES: dict[str, EngineSpec] = {
    "duckdb": EngineSpec("meshplane.engines.duckdb", "DuckDBEngine", "duckdb", None),
    "spark": EngineSpec("meshplane.engines.spark", "SparkEngine", "pyspark", "spark"),
}


def available_engines() -> list[str]:
    """Engines whose backend is installed (does not import them)."""
    return [name for name, spec in ENGINES.items() if importlib.util.find_spec(spec.requires) is not None]


def get_engine(name: str, **options: Any) -> Engine:
    """Create the engine ``name`` with engine-specific ``options`` (threads, master, conf, ...)."""
    spec = ENGINES.get(name)
    if spec is None:
        known = ", ".join(sorted(ENGINES))
        raise EngineUnavailable(f"unknown engine {name!r}; known engines: {known}")
    if importlib.util.find_spec(spec.requires) is None:
        raise EngineUnavailable(f"the {name} engine needs the {spec.requires} package: {spec.install_hint}")
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name == spec.module:
            raise EngineUnavailable(f"the {name} engine is not part of this meshplane version") from exc
        raise EngineUnavailable(f"the {name} engine cannot load {exc.name}: {spec.install_hint}") from exc
    engine: Engine = getattr(module, spec.cls)(**options)
    return engine
