"""The builder reads each engine capability flag before handing the engine work (no branching on names)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

import meshplane.workspace.building as building
from meshplane.builds import Status
from meshplane.engines import get_engine
from meshplane.engines.base import Engine, EngineCapabilities
from meshplane.workspace import Mesh


class Limited:
    """DuckDB with some capabilities switched off, counting how many stage calls overlap."""

    def __init__(self, **flags: Any) -> None:
        self.inner: Engine = get_engine("duckdb")
        self._caps = dataclasses.replace(self.inner.capabilities, name="limited", **flags)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._caps

    def _staged(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            threading.Event().wait(0.2)  # long enough for a second thread to overlap if allowed
            return call(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1

    def stage_sql(self, *args: Any, **kwargs: Any) -> Any:
        return self._staged(self.inner.stage_sql, *args, **kwargs)

    def stage_python(self, *args: Any, **kwargs: Any) -> Any:
        return self._staged(self.inner.stage_python, *args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.query(*args, **kwargs)

    def close(self) -> None:
        self.inner.close()


def _use(monkeypatch: pytest.MonkeyPatch, engine: Limited) -> None:
    def make(*args: Any, **kwargs: Any) -> Any:  # in place of make_engine(graph, name, ...)
        return engine

    monkeypatch.setattr(building, "make_engine", make)


def test_an_engine_without_python_transforms_fails_that_product_by_name(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, Limited(python_transforms=False))
    with Mesh.open(root) as mesh:
        outcomes = {str(o.address): o for o in mesh.build().outcomes}
    assert outcomes["podcasts.listening_events"].status is Status.SUCCESS, outcomes["podcasts.listening_events"].error
    stats = outcomes["podcasts.listener_stats"]
    assert stats.status is Status.FAILED
    assert "listener_stats.py: the limited engine runs no Python transforms" in (stats.error or "")
    assert outcomes["podcasts.shows"].status is Status.SUCCESS  # SQL products build as usual


def test_an_engine_without_parallel_builds_gets_one_stage_call_at_a_time(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Limited(parallel_builds=False)
    _use(monkeypatch, engine)
    with Mesh.open(root) as mesh:
        assert mesh.build(jobs=4).ok
    assert engine.most == 1


def test_an_engine_that_reads_no_csv_is_not_handed_csv_files(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, Limited(file_formats=frozenset({"parquet"})))
    with Mesh.open(root) as mesh:
        outcomes = {str(o.address): o for o in mesh.build().outcomes}
    error = outcomes["podcasts.shows"].error or ""
    assert "input 'shows' is csv files, which the limited engine does not read (it reads parquet)" in error


def test_the_builds_of_one_open_mesh_share_its_engine_until_it_closes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Limited] = []
    closed: list[Limited] = []

    class Counted(Limited):
        def close(self) -> None:
            closed.append(self)
            super().close()

    def make(*args: Any, **kwargs: Any) -> Any:
        made.append(Counted())
        return made[-1]

    monkeypatch.setattr(building, "make_engine", make)
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        assert mesh.build(["podcasts.shows"], full_refresh=True).ok
        assert len(made) == 1 and closed == []  # a warm engine: neither made again nor closed between builds
    assert closed == made  # closing the mesh closes it
