"""One engine suite, run against every engine: DuckDB always, Spark (local mode) when PySpark and Java exist.

A test runs once per engine through the ``engine`` fixture. Mark what an engine cannot do with
``@pytest.mark.engine_xfail("spark", reason=...)``: a strict xfail, so the mark goes as soon as it works.
The engines are session-scoped: one Spark session (one JVM) serves the whole run.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator

import pytest

from meshplane.engines import Engine, get_engine

ENGINE_NAMES = ("duckdb", "spark")
# Every Spark test tolerates PySpark's import-time notice about pandas 3 (the engine never uses pandas).
PANDAS_NOTICE = "ignore:PySpark does not yet fully support pandas:FutureWarning"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engine_xfail(engine, reason): strict xfail of a conformance test on one engine")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" not in metafunc.fixturenames:
        return
    xfails = {m.args[0]: m.kwargs["reason"] for m in metafunc.definition.iter_markers("engine_xfail")}
    unknown = set(xfails) - set(ENGINE_NAMES)
    if unknown:
        raise ValueError(f"engine_xfail names unknown engine(s) {sorted(unknown)}")
    params = []
    for name in ENGINE_NAMES:
        marks: list[pytest.MarkDecorator] = []
        if name == "spark":
            marks += [pytest.mark.spark, pytest.mark.filterwarnings(PANDAS_NOTICE)]
        if name in xfails:
            marks.append(pytest.mark.xfail(strict=True, reason=xfails[name]))
        params.append(pytest.param(name, marks=marks, id=name))
    metafunc.parametrize("engine", params, indirect=True)


@pytest.fixture(scope="session")
def duckdb_engine() -> Iterator[Engine]:
    engine = get_engine("duckdb", threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Engine]:
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        pytest.skip("the Spark engine needs PySpark and Java")
    engine = get_engine("spark", master="local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    yield engine
    engine.close()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue(f"{request.param}_engine")
    return found
