"""Subprocess body for the crash tests: publish, and SIGKILL ourselves at a chosen point.

Usage: python crash_worker.py CATALOG_URL WAREHOUSE POINT [COUNT]
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from meshplane.storage import TableId, TableStore

T = TableId("sales", "orders__orders__v1")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, warehouse, point = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    store = TableStore(url, warehouse)
    from pyiceberg.serializers import ToOutputFile

    from meshplane.storage._iceberg import PointerSwap

    original_apply = PointerSwap.apply  # the one transaction that switches the catalog pointers
    original_write = ToOutputFile.table_metadata

    if point == "before_catalog_update":

        def commit_then_die(self, *a, **k):  # type: ignore[no-untyped-def]
            die()

        PointerSwap.apply = commit_then_die  # type: ignore[method-assign]
    elif point == "after_catalog_update":

        def commit_and_die(self, *a, **k):  # type: ignore[no-untyped-def]
            original_apply(self, *a, **k)
            die()

        PointerSwap.apply = commit_and_die  # type: ignore[method-assign]
    elif point == "mid_metadata_write":

        def half_write(metadata, output_file, overwrite=False):  # type: ignore[no-untyped-def]
            with output_file.create(overwrite=overwrite) as stream:
                stream.write(b'{"format-version": 2, "table-uu')
            die()

        ToOutputFile.table_metadata = staticmethod(half_write)  # type: ignore[method-assign,assignment]
    del original_write

    for i in range(count):
        run = f"{point}-{os.getpid()}-{i}"
        target = store.staging_dir(T, run) / "part-0.parquet"
        duckdb.sql(f"select range as id, {i} as gen from range(1000)").to_parquet(str(target))
        if point == "after_files_written":
            die()
        store.publish(T, [target], pq.read_schema(target), {"gen": str(i)}, run_id=run)
        print(f"published {i}", flush=True)


if __name__ == "__main__":
    main()
