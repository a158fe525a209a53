"""Cross-process table locks: an ``flock`` on a file under the warehouse.

``flock`` is released by the kernel when the holder dies (even by SIGKILL), so a crashed build
never leaves a stale lock behind, and it works the same whichever database holds the catalog.
Locks are re-entrant within one thread of one :class:`LockManager`; other threads and processes wait.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshplane.errors import ConcurrentBuild

__all__ = ["LockManager"]

_POLL_SECONDS = 0.05


class LockManager:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._guard = threading.Lock()
        self._held: dict[str, tuple[int, int]] = {}  # key -> (thread ident, depth)

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[None]:
        """Hold the lock named ``key``; wait at most ``timeout`` seconds, then raise ConcurrentBuild."""
        me = threading.get_ident()
        with self._guard:
            owner = self._held.get(key)
            if owner is not None and owner[0] == me:
                self._held[key] = (me, owner[1] + 1)
                reentered = True
            else:
                reentered = False
        if reentered:
            try:
                yield
            finally:
                with self._guard:
                    self._held[key] = (me, self._held[key][1] - 1)
            return

        fd = self._acquire(key, timeout)
        with self._guard:
            self._held[key] = (me, 1)
        try:
            yield
        finally:
            with self._guard:
                del self._held[key]
            os.close(fd)  # closing the descriptor releases the flock

    def _acquire(self, key: str, timeout: float) -> int:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{key}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise ConcurrentBuild(
                        f"{key} is being built by another process{holder}; waited {timeout:g} s. "
                        "Retry when it finishes, or raise the lock timeout."
                    ) from None
                time.sleep(_POLL_SECONDS)
        # Record the holder for the message another waiter prints; informational only.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
