"""Deadlines of the process: one thread fires every callback due (query interrupts, worker streams), and the
grace periods of limited child processes (see :mod:`meshplane.engines.limits`)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["GRACE_SECONDS", "START_SECONDS", "WATCHDOG", "Watchdog"]

START_SECONDS = 120.0
"""How long a child may take to start (a busy machine); its calls' time limits count from after."""
GRACE_SECONDS = 2.0
"""How long past its deadline a child may take to stop by itself (DuckDB interrupts) before it is killed."""


class Watchdog:
    """One thread for every deadline of the process (queries, streams): a heap of (deadline, id), earliest first.

    :meth:`cancel` and the firing both run under one lock, so once ``cancel`` returns the callback cannot
    run any more (a query that finished is never interrupted afterwards).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._cond:
            handle = next(self._ids)
            self._callbacks[handle] = callback
            heapq.heappush(self._heap, (time.monotonic() + seconds, handle))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="meshplane-sandbox-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][1] == handle:
                self._cond.notify()
        return handle

    def cancel(self, handle: int) -> None:
        with self._cond:
            self._callbacks.pop(handle, None)  # its heap entry is dropped when it comes up

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._callbacks:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, handle = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                callback = self._callbacks.pop(handle)
                with contextlib.suppress(Exception):  # interrupt() of a closing connection
                    callback()


WATCHDOG = Watchdog()
"""The process's one deadline thread."""
