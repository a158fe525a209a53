"""Subprocess body of the crash and concurrency tests: build a mesh, and SIGKILL ourselves at a chosen point.

Usage: python build_worker.py MESH_ROOT POINT [SELECTOR ...]

POINT is one of ``none`` (just build), ``staged`` (after the transform wrote its files, before the checks),
``between_ports`` (the first port's new metadata is written, the next port's not yet), ``before_commit`` (in
publish, every port's metadata written, before the one transaction that switches the catalog pointers),
``mid_metadata`` (half-way through writing the new metadata file), ``after_commit`` (the catalog switched, the run
is not recorded yet) or ``before_run_record``.
Prints ``ready`` once the mesh is open, then the build's outcome per product.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    from pyiceberg.serializers import ToOutputFile

    import meshplane.workspace.building as building
    from meshplane.storage._iceberg import PointerSwap

    if point == "staged":
        from meshplane.builds.execute import Builder

        stage = Builder._stage

        def stage_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            stage(self, *args, **kwargs)
            die()

        Builder._stage = stage_then_die  # type: ignore[method-assign]
    elif point == "before_commit":

        def no_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
            die()

        PointerSwap.apply = no_commit  # type: ignore[method-assign]
    elif point == "between_ports":
        stage_metadata = PointerSwap.commit_table

        def second_port_dies(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self._pending:
                die()
            return stage_metadata(self, *args, **kwargs)

        PointerSwap.commit_table = second_port_dies  # type: ignore[method-assign]
    elif point == "after_commit":
        original = PointerSwap.apply

        def commit_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            original(self, *args, **kwargs)
            die()

        PointerSwap.apply = commit_then_die  # type: ignore[method-assign]
    elif point == "mid_metadata":

        def half_write(metadata: Any, output_file: Any, overwrite: bool = False) -> None:
            with output_file.create(overwrite=overwrite) as stream:
                stream.write(b'{"format-version": 2, "table-uu')
            die()

        ToOutputFile.table_metadata = staticmethod(half_write)  # type: ignore[method-assign,assignment]
    elif point == "before_run_record":

        def finished_then_die(self: Any, outcome: Any) -> None:
            die()

        building._RecordingEvents.finished = finished_then_die  # type: ignore[method-assign]
    elif point != "none":
        raise SystemExit(f"unknown point {point}")


def main() -> None:
    root, point, selectors = sys.argv[1], sys.argv[2], sys.argv[3:]
    from meshplane.workspace import Mesh

    arm(point)
    with Mesh.open(root) as mesh:
        plan = mesh.plan(selectors or None)
        print("ready", flush=True)
        result = mesh.build_plan(plan, jobs=1)
        for outcome in result.outcomes:
            print(f"{outcome.address} {outcome.status.value} {outcome.error or ''}", flush=True)


if __name__ == "__main__":
    main()
