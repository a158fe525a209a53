"""A result a limited child process hands out in chunks (see :meth:`meshplane.engines.limits.WorkerPool.stream`)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from meshplane.engines.deadlines import GRACE_SECONDS, WATCHDOG
from meshplane.errors import LimitExceeded, MeshError

if TYPE_CHECKING:
    from meshplane.engines.limits import ProcessLimits, WorkerPool, _Child

__all__ = ["RemoteStream"]


class RemoteStream:
    """A result a child hands out in chunks of bytes; read by one thread, cancelled or closed from any.

    The first chunk is read when the stream opens (errors of the work surface there). :meth:`next_chunk`
    asks for the next; the wall-clock limit covers the whole stream, reading included, and a stream still
    open at its deadline loses its child. :meth:`cancel` interrupts the work in the child (the reader then
    gets the work's own cancellation error); :meth:`close` before the end tells the child to drop the rest
    and gives it back to the pool, or kills it when it does not answer within a short grace.
    """

    def __init__(self, pool: WorkerPool, owner: str, child: _Child, limits: ProcessLimits, call_id: int) -> None:
        self._pool = pool
        self._owner = owner
        self._child: _Child | None = child
        self._limits = limits
        self._call = call_id
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._asked = True  # the child sends the first chunk unasked
        self._expired = False
        self.summary: Any = None
        """What the work reported at its end (e.g. how long the engine ran)."""
        self._timer: int | None = None
        if limits.wall_seconds is not None:
            self._timer = WATCHDOG.schedule(limits.wall_seconds + GRACE_SECONDS, self._expire)

    @property
    def done(self) -> bool:
        return self._child is None

    def _remaining(self) -> float | None:
        if self._limits.wall_seconds is None:
            return None
        return self._limits.wall_seconds + GRACE_SECONDS - (time.monotonic() - self._started)

    def next_chunk(self) -> bytes | None:
        """The next chunk, or None at the end; raises what the work raised, or LimitExceeded."""
        with self._lock:
            child = self._child
            if child is None:
                if self._expired:
                    raise LimitExceeded(f"stopped after {self._limits.wall_seconds:g} s (time limit)", limit="time")
                return None
            try:
                if not self._asked:
                    child.requests.send("next")
                self._asked = False
                data, done, summary = child.receive(self._limits, self._remaining(), expect="chunk")
            except LimitExceeded:
                self._finish(keep=False)
                if self._expired:
                    raise LimitExceeded(
                        f"stopped after {self._limits.wall_seconds:g} s (time limit)", limit="time"
                    ) from None
                raise
            except (BrokenPipeError, OSError):
                self._finish(keep=False)
                raise LimitExceeded("the worker process stopped", limit="process") from None
            except MeshError:
                self._finish(keep=True)  # the work failed; the child is fine
                raise
            except BaseException:
                self._finish(keep=child.alive)
                raise
            if done:
                self.summary = summary
                self._finish(keep=True)
            return data  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Interrupt the work in the child now (any thread); the child stays for the next call."""
        child = self._child
        if child is not None:
            child.cancel(self._call)

    def close(self) -> None:
        """Stop the stream; before its end the child drops the rest (or is killed when it does not answer)."""
        self.cancel()  # a chunk being made stops now instead of after its work
        with self._lock:
            child = self._child
            if child is None:
                return
            keep = False
            try:
                if self._asked:  # the child is still making the chunk it was asked for: read and drop it
                    child.receive(self._limits, GRACE_SECONDS, expect="chunk")
                child.requests.send("close")
                keep = child.receive(self._limits, GRACE_SECONDS, expect="closed") is None
            except Exception:  # any failure here: the child is not trusted with the next call
                keep = False
            self._finish(keep=keep and child.alive)

    def _finish(self, *, keep: bool) -> None:
        child, self._child = self._child, None
        if self._timer is not None:
            WATCHDOG.cancel(self._timer)
        if child is not None:
            self._pool._release(self._owner, child if keep else None, child)

    def _expire(self) -> None:
        """At the deadline: the child goes, whatever it was doing (a reader waiting for it sees it gone)."""
        child = self._child
        if child is None:
            return
        self._expired = True
        child.signal_kill()
        if self._lock.acquire(blocking=False):  # nobody is reading: hand the slot back now
            try:
                self._finish(keep=False)
            finally:
                self._lock.release()

    def __enter__(self) -> RemoteStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
