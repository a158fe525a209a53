"""The query log's write-behind: every gateway query is recorded without a catalog write on the query path.

:class:`QueryLogWriter` queues each query's log entry with the detail of its ``query`` audit event, and a
background thread writes whatever has queued up in one small transaction (``CatalogWriter.log_queries``;
the audit log stays append-only). Nothing is lost on a normal shutdown: :meth:`QueryLogWriter.flush`
(called before the query or audit log is read through the access service), :meth:`QueryLogWriter.close`
and interpreter exit write every queued entry. A failed write keeps its entries queued; while the catalog
refuses them, the next query writes synchronously, so it fails loudly rather than going unlogged.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from meshplane.catalog import CatalogWriter
from meshplane.catalog import QueryLogEntry as CatalogQueryEntry

__all__ = ["QueryLogWriter"]

_Item = tuple[CatalogQueryEntry, Mapping[str, Any]]
_LIVE: weakref.WeakSet[QueryLogWriter] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:  # pragma: no cover - runs at interpreter exit
    for writer in list(_LIVE):
        writer.close()


class QueryLogWriter:
    """Batches query log entries and their audit events into background transactions; thread-safe."""

    def __init__(self, writer: CatalogWriter, *, max_batch: int = 500) -> None:
        self._writer = writer
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._writing = 0  # entries taken by a flush that has not finished
        self._failed = False
        self._closed = False
        self._write_lock = threading.Lock()  # one flush at a time keeps the log in submission order
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    def submit(self, entry: CatalogQueryEntry, detail: Mapping[str, Any]) -> None:
        """Queue one query; written within milliseconds (synchronously when closed or after a failure)."""
        with self._cond:
            self._pending.append((entry, detail))
            synchronous = self._closed or self._failed
            if not synchronous:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="meshplane-query-log", daemon=True)
                    self._thread.start()
                self._cond.notify()
        if synchronous:
            self.flush()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed and not self._pending:
                    return
            try:
                self._write_some()
            except Exception:
                # The entries stay queued and this thread ends: the next submit, flush or close writes them
                # synchronously and raises the catalog's error, instead of retrying a catalog that refuses.
                with self._cond:
                    if self._thread is threading.current_thread():
                        self._thread = None
                return

    def _write_some(self) -> None:
        with self._write_lock:
            with self._cond:
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
                self._writing += len(batch)
            try:
                if batch:
                    self._writer.log_queries(batch)
            except BaseException:
                with self._cond:
                    self._pending[:0] = batch
                    self._failed = True
                    raise
            finally:
                with self._cond:
                    self._writing -= len(batch)
                    self._cond.notify_all()
            with self._cond:
                self._failed = False

    def flush(self) -> None:
        """Write every entry queued so far (and wait for a background write in progress); raises on failure."""
        while True:
            with self._cond:
                if not self._pending:
                    while self._writing:
                        self._cond.wait()
                    if not self._pending:
                        return
            self._write_some()

    def close(self) -> None:
        """Write everything queued and stop the background thread; later entries are written at once."""
        with self._cond:
            self._closed = True
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        _LIVE.discard(self)  # closed once: a failure is raised here, not again at interpreter exit
        self.flush()
