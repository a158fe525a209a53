"""In a build child: locked-down DuckDB databases kept for the next transform over exactly the same files.

Opening and closing a DuckDB database costs about 10 ms of CPU (its catalog of functions), more than a tiny
transform's query and Parquet write together. A mesh of many products reading the same source files would pay
it once per product; here a child keeps the few databases it locked down last and runs the next transform whose
granted files are *exactly* the same on a new connection to one of them:

- the lock-down is the one a fresh database gets (:meth:`DuckDBSandbox.connect`): ``allowed_paths`` = those
  files, external access off, configuration locked; so no transform can read more than a fresh database
  would let it;
- its only writable folder is a scratch folder of its own (not a table's staging folder): the result is
  written there, then moved into the transform's staging folder outside DuckDB, so a later transform on the
  same database finds nothing in it and cannot reach any staging folder;
- transforms are one guarded SELECT (no CREATE, SET, ATTACH, PRAGMA), so none leaves catalog objects or
  settings behind; each runs on a new connection (its own client state, registrations, variables);
- a transform that failed or was stopped closes its database (an interrupted query or one that ran out of
  memory may leave it in a state the next one should not inherit).

Transforms with Arrow inputs (registered on the connection) still get a fresh database each.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from meshplane.engines.duckdb_sandbox import DuckDBSandbox

__all__ = ["run_kept"]

_KEPT_DATABASES = 2
"""Databases a child keeps (a few MB each while idle); the least recently used one is closed first."""


@dataclass(frozen=True)
class _Kept:
    connection: duckdb.DuckDBPyConnection
    folder: Path
    """The database's scratch folder: its only writable place (results, then moved out; spills)."""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_KEPT: OrderedDict[Hashable, _Kept] = OrderedDict()


@atexit.register
def _close_kept() -> None:
    """A database still open when the interpreter exits aborts it (DuckDB's threads); scratch folders go too."""
    while _KEPT:
        _KEPT.popitem()[1].close()


def run_kept(
    sandbox: DuckDBSandbox,
    key: Hashable,
    files: tuple[str, ...],
    scratch_root: Path,
    unused: Callable[[], duckdb.DuckDBPyConnection | None],
    work: Callable[[duckdb.DuckDBPyConnection, Path], Path],
    out_dir: Path,
) -> tuple[Path, bool]:
    """``work(connection, folder)`` on a new connection to the kept database of ``sandbox`` granted exactly
    ``files`` (locked down now if none is kept: ``unused()`` may give a database opened ahead); it writes its
    result file into ``folder``, which is then moved into ``out_dir``. Returns the moved file and whether a
    database had to be locked down for it (a miss: the caller may open the next one ahead)."""
    granted = (key, frozenset(files), str(scratch_root))
    kept = _KEPT.pop(granted, None)
    missed = kept is None
    if kept is None:
        kept = _lock_down(sandbox, files, scratch_root, unused())
    connection = kept.connection.cursor()
    done = False
    try:
        written = work(connection, kept.folder)
        target = out_dir / written.name
        _move(written, target)
        done = True
    finally:
        connection.close()
        if done:
            _KEPT[granted] = kept
            while len(_KEPT) > _KEPT_DATABASES:
                _KEPT.popitem(last=False)[1].close()
        else:
            kept.close()
    return target, missed


def _lock_down(
    sandbox: DuckDBSandbox, files: tuple[str, ...], scratch_root: Path, unused: duckdb.DuckDBPyConnection | None
) -> _Kept:
    scratch_root.mkdir(parents=True, exist_ok=True)
    _remove_orphans(scratch_root)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=scratch_root))
    try:
        connection = sandbox.connect(list(files), writable=folder, unused=unused)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _Kept(connection, folder)


def _remove_orphans(scratch_root: Path) -> None:
    """Scratch folders of children that died without cleaning up (killed at a limit): named ``<pid>-...``."""
    for folder in scratch_root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _move(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError:  # another file system (a scratch folder elsewhere): copy, then remove
        shutil.move(source, target)
