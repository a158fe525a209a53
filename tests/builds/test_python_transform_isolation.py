"""Every Python transform runs confined, whatever the engine: one that asks for Spark DataFrames is refused.

A Spark DataFrame carries the engine's session, which cannot enter the confined child; running such a
transform in the platform process would give user code the platform's rights. The build refuses it before
any of its code runs (the file is only parsed), located at the parameter, with what to write instead. The
same file on an engine without DataFrames, and any Arrow-annotated transform on Spark, run in the child.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from meshplane.builds.execute import python_transform
from meshplane.engines.base import Engine, EngineCapabilities
from meshplane.engines.python_sandbox import SandboxedTransform
from meshplane.errors import BuildError
from meshplane.spec.models import TransformSpec

ASKS = """\
from pathlib import Path
from pyspark.sql import DataFrame
Path("{marker}").write_text("imported")


def transform(shows: pa.Table, events: DataFrame) -> DataFrame:
    return events
"""


class _Engine:
    def __init__(self, dataframes: bool) -> None:
        self.capabilities = EngineCapabilities(name="stub", sql_dialect="duckdb", dataframe_transforms=dataframes)


def _transform(tmp_path: Path, code: str) -> TransformSpec:
    path = tmp_path / "monthly_payouts.py"
    path.write_text(code)
    return TransformSpec(path=path, language="python", code=code)


def test_dataframe_transform_on_spark_is_refused_located_and_never_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    spec = _transform(tmp_path, ASKS.format(marker=marker))
    with pytest.raises(BuildError) as refused:
        python_transform(spec, cast(Engine, _Engine(dataframes=True)))
    message = str(refused.value)
    assert message.startswith(f"{spec.path}:6:32: transform() asks for a Spark DataFrame (events: DataFrame)")
    assert "annotate the parameter as pyarrow.Table" in message and "SQL transform" in message
    assert not marker.exists()  # refused from the syntax tree: none of its code ran


@pytest.mark.parametrize(
    "signature",
    ["def transform(**inputs: DataFrame):", "def transform(*, events: 'pyspark.sql.DataFrame'):",
     "async def transform(events: sql.DataFrame):"],
)  # fmt: skip
def test_every_way_of_asking_is_refused(tmp_path: Path, signature: str) -> None:
    spec = _transform(tmp_path, f"{signature}\n    return None\n")
    with pytest.raises(BuildError, match=r"monthly_payouts\.py:1:\d+: transform\(\) asks for a Spark DataFrame"):
        python_transform(spec, cast(Engine, _Engine(dataframes=True)))


def test_arrow_transforms_on_spark_and_any_transform_elsewhere_run_confined(tmp_path: Path) -> None:
    arrow = _transform(tmp_path, "import pyarrow as pa\ndef transform(**inputs: pa.Table) -> pa.Table:\n    ...\n")
    assert isinstance(python_transform(arrow, cast(Engine, _Engine(dataframes=True))), SandboxedTransform)
    asks = _transform(tmp_path, ASKS.format(marker=tmp_path / "m"))
    assert isinstance(python_transform(asks, cast(Engine, _Engine(dataframes=False))), SandboxedTransform)
