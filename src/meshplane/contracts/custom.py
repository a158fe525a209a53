"""Run ODCS ``custom`` quality rules written for Great Expectations, when it is installed.

``pip install "meshplane[great-expectations]"`` adds it. A rule names one expectation, as ODCS examples write
it::

    quality:
      - type: custom
        engine: greatExpectations
        implementation: |
          type: expect_table_row_count_to_be_between
          kwargs: {minValue: 1, maxValue: 100000}

The port's rows are handed to Great Expectations as a pandas DataFrame (so this suits tables that fit in memory).
Without the package the rule is reported "not executed", with that install hint. Soda rules are not run: no
Soda package for DuckDB installs beside meshplane's dependencies (soda-duckdb 4.28 -> soda-core 4.28 pins
ruamel.yaml<0.19, meshplane needs >=0.19.1; soda-core-duckdb 3.5.6 pins duckdb<1.1.0, meshplane needs >=1.5.5).
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["GE_ENGINES", "CustomOutcome", "great_expectations_installed", "run_great_expectations"]

GE_ENGINES = frozenset({"greatExpectations", "great-expectations", "great_expectations", "gx"})
INSTALL_HINT = 'pip install "meshplane[great-expectations]"'


@dataclass(frozen=True)
class CustomOutcome:
    passed: bool
    observed: Any
    message: str


def great_expectations_installed() -> bool:
    return importlib.util.find_spec("great_expectations") is not None


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _expectation(implementation: Any) -> tuple[str, dict[str, Any]]:
    """(expectation type, keyword arguments) from a rule's implementation (YAML text or a mapping)."""
    body = yaml.safe_load(implementation) if isinstance(implementation, str) else implementation
    if not isinstance(body, dict):
        raise ValueError("the implementation must name an expectation: type: expect_... and kwargs: {...}")
    kind = body.get("type") or body.get("expectation_type")
    if not isinstance(kind, str) or not kind.startswith("expect_"):
        raise ValueError(f"the implementation's type must be a Great Expectations expectation, not {kind!r}")
    kwargs = body.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ValueError("kwargs must be a mapping")
    return kind, {_snake(str(k)): v for k, v in kwargs.items()}


@cache
def _batch_definition() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("meshplane")
    return source.add_dataframe_asset("port").add_batch_definition_whole_dataframe("rows")


def run_great_expectations(implementation: Any, rows: pa.Table) -> CustomOutcome:
    """Validate ``rows`` against the expectation the rule names."""
    kind, kwargs = _expectation(implementation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx

        name = "".join(part.title() for part in kind.split("_"))
        expectation_class = getattr(gx.expectations, name, None)
        if expectation_class is None:
            raise ValueError(f"Great Expectations has no expectation {kind!r}")
        expectation = expectation_class(**kwargs)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": rows.to_pandas()})
        result = batch.validate(expectation)
    details = dict(result.result or {})
    observed = details.get("observed_value", details.get("unexpected_count"))
    verdict = "met" if result.success else "not met"
    return CustomOutcome(bool(result.success), observed, f"Great Expectations {kind} {verdict} (observed {observed})")
