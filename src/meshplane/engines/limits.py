"""Process-level limits: run work in a child process that cannot outgrow its memory or its time.

DuckDB's ``memory_limit`` bounds its buffer manager, not every allocation (``len(range(2000000000))`` and
``repeat()`` allocate outside it), and a Python transform can allocate anything, so a hard bound lives at
the process level. Work runs in a child process (``python -m meshplane.engines._worker``) that, before it
imports anything heavy, caps its own address space with ``RLIMIT_AS`` (an allocation past it fails inside
the child: DuckDB raises ``OutOfMemoryException``, Python ``MemoryError``) and, when asked, its CPU seconds
with ``RLIMIT_CPU``. The parent waits at most the wall-clock deadline plus a short grace, then kills the
child (SIGKILL) and starts another: the parent never runs the work, so it stays up and serves others.

The child gets a minimal environment (``PATH``, ``PYTHONPATH``, locale, ``TZ``; no catalog URL, no cloud
keys) and its own working directory when given. What it does *not* isolate: the file system (the child has
the parent's user rights; DuckDB's own lock-down or the caller's sandbox must restrict files) and the
network.

The API is small on purpose; the query gateway and the build sandbox both use it:

- :class:`ProcessLimits` -- address space, CPU seconds and wall seconds of one call;
- :func:`run_limited` -- one call in a fresh child: its result, or :class:`~meshplane.errors.LimitExceeded`;
- :func:`prestart` -- start a child early, for the next pool with the same limits;
- :class:`WorkerPool` -- long-lived limited children shared fairly between owners (users): ``pool.call(owner,
  fn, *args)``; one owner never holds more than ``per_owner`` children, and when every child is busy the
  waiting owner with the fewest running calls goes first. ``pool.stream(owner, fn, *args)`` hands out a
  result in chunks (:class:`RemoteStream`) as the child makes them, one chunk ahead, so neither side holds
  it whole; it can be cancelled from any thread (the child's :func:`on_cancel` callback runs at once, the
  child stays and serves the next call), and closing it early frees the child at once.

``fn`` and its arguments cross the boundary by pickle: ``fn`` must be a module-level function. Exceptions
come back as they were raised when they pickle, else as :class:`RemoteError` (kind and message).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import mmap
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from meshplane.engines.cancel import on_cancel
from meshplane.engines.deadlines import GRACE_SECONDS, START_SECONDS, WATCHDOG, Watchdog
from meshplane.engines.remote_stream import RemoteStream
from meshplane.errors import LimitExceeded, MeshError

log = logging.getLogger(__name__)

__all__ = [
    "WATCHDOG",
    "ProcessLimits",
    "RemoteError",
    "RemoteStream",
    "Watchdog",
    "WorkerPool",
    "on_cancel",
    "parse_bytes",
    "prestart",
    "ran_out_of_memory",
    "run_limited",
]

T = TypeVar("T")

_ENV_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME", "SYSTEMROOT")
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip


_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGT]?I?B?)")


def parse_bytes(text: str | int) -> int:
    """``"2GB"`` / ``"512MiB"`` / ``1024`` in bytes (DuckDB's spelling of memory sizes)."""
    if isinstance(text, int):
        return text
    match = _SIZE.fullmatch(text.strip().upper().replace(" ", ""))
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (write e.g. 512MB or 2GiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True, slots=True)
class ProcessLimits:
    """Limits of one child process; ``None`` leaves that limit off."""

    memory_bytes: int | None = 4 * 2**30
    """Address space (RLIMIT_AS). It counts mapped libraries and thread stacks too: leave 1-2 GB headroom
    above what the work itself may use (a Python + DuckDB + pyarrow child maps about 0.5 GB at start)."""
    cpu_seconds: int | None = None
    """CPU seconds (RLIMIT_CPU) over the child's life; use with :func:`run_limited` (one call per child)."""
    wall_seconds: float | None = 60.0
    """Wall-clock seconds one call may take before its child is killed."""
    recycle_above: int | None = None
    """Address space above which a child that finished a call is replaced instead of serving the next one.
    DuckDB's allocator keeps the address space a large query mapped: a child kept near its cap would start
    the next call with little room for what DuckDB's own memory limit does not count (threads, network
    buffers, Arrow), and an allocation there fails outside DuckDB and ends the child mid-query."""


class RemoteError(MeshError):
    """An exception raised in a child that could not be sent back as itself."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.kind, self.message))


_CALLS = itertools.count(1)
"""Ids of calls, unique in the parent: a cancel names the call it means, never a later one."""

_ALLOCATORS = {
    # RLIMIT_AS counts reserved address space as if it were used, so a child's allocators must not reserve
    # ahead of use. glibc reserves 64 MB per thread arena: httpfs's request threads added enough of them to
    # reach the cap (the child aborted); two arenas keep address space near real use.
    "MALLOC_ARENA_MAX": "2",
    # pyarrow's default pool (mimalloc) reserves a 1 GiB arena at its first allocation: a query child then
    # mapped 1.6 GB where it used 0.25 GB, a gigabyte of its headroom gone before its query began.
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {key: os.environ[key] for key in _ENV_KEPT if key in os.environ}
    # the child imports what the parent can: meshplane first, then the parent's own import path
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *(p for p in sys.path if p and p != package_root and Path(p).is_dir())]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(_ALLOCATORS)
    env.update(extra or {})
    return env


def ran_out_of_memory(error: BaseException) -> bool:
    """Whether a child's call failed on an allocation: Python's ``MemoryError``, or DuckDB's
    ``OutOfMemoryException`` (at its ``memory_limit`` or at the child's RLIMIT_AS). Such a child is not trusted
    with another call: an allocation failing half-way may leave DuckDB's or httpfs's threads in a state the next
    query inherits (suspected where a query child aborted in ``std::terminate`` on the S3 query after a run of
    memory-exhausting ones). Both sides decide by this: the child ends itself after answering, the parent does
    not hand it out again."""
    kind = getattr(error, "kind", None) or type(error).__name__  # RemoteError: an exception that did not pickle
    return isinstance(error, MemoryError) or kind == "OutOfMemoryException"


@dataclass(eq=False)
class _Child:
    """One running child process and the two pipe ends the parent holds."""

    process: subprocess.Popen[bytes]
    requests: Connection
    replies: Connection
    control: int
    """Write end of the control pipe: 8-byte ids of calls to cancel."""
    calls: int = 0
    control_lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    """The child said it finished starting (interpreter, preloaded modules); its calls' clocks start then."""
    idle_since: float = field(default_factory=time.monotonic)
    trusted: bool = True
    """False once a call of it ran out of memory: it ends itself after answering, and serves nothing more."""

    @classmethod
    def start(cls, limits: ProcessLimits, *, cwd: str | None = None, env: Mapping[str, str] | None = None) -> _Child:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        control_read, control_write = os.pipe()
        argv = [
            sys.executable,
            "-s",  # no user site-packages; PYTHONPATH stays (the child imports meshplane from it)
            "-m",
            "meshplane.engines._worker",
            str(request_read),
            str(reply_write),
            str(control_read),
            str(limits.memory_bytes or 0),
            str(limits.cpu_seconds or 0),
        ]
        try:
            process = subprocess.Popen(
                argv,
                pass_fds=(request_read, reply_write, control_read),
                stdin=subprocess.DEVNULL,
                env=_child_env(env),
                cwd=cwd,
                close_fds=True,
                start_new_session=True,  # a Ctrl-C in the parent's terminal does not reach the child
            )
        except BaseException:
            os.close(control_write)
            raise
        finally:
            os.close(request_read)
            os.close(reply_write)
            os.close(control_read)
        requests = Connection(request_write, readable=False)
        return cls(process, requests, Connection(reply_read, writable=False), control_write)

    def wait_ready(self) -> None:
        """Wait for the child to finish starting, so a busy machine's slow start does not eat a call's time."""
        if self.ready:
            return
        try:
            if self.replies.poll(START_SECONDS) and self.replies.recv() == ("ready", None):
                self.ready = True
                return
        except (EOFError, OSError):
            pass
        self.kill()
        raise LimitExceeded("the worker process did not start", limit="process")

    def send(self, kind: str, function: Callable[..., Any], args: tuple[Any, ...]) -> int:
        """Start one call (``"call"`` or ``"stream"``); its id."""
        self.calls += 1
        call_id = next(_CALLS)
        try:
            self.requests.send((kind, call_id, function, args))
        except (BrokenPipeError, OSError):
            self.kill()
            raise LimitExceeded("the worker process stopped before the work started", limit="process") from None
        return call_id

    def cancel(self, call_id: int) -> None:
        """Ask the child to cancel ``call_id`` (ignored when it is no longer running); any thread."""
        with self.control_lock, contextlib.suppress(OSError):  # the child is gone already
            if self.control >= 0:
                os.write(self.control, struct.pack("!q", call_id))

    def call(self, limits: ProcessLimits, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Send one call and wait for its reply; kills the child when it outlives its deadline or dies."""
        self.wait_ready()
        self.send("call", function, args)
        deadline = None if limits.wall_seconds is None else limits.wall_seconds + GRACE_SECONDS
        return self.receive(limits, deadline)  # type: ignore[no-any-return]

    def receive(self, limits: ProcessLimits, timeout: float | None, *, expect: str = "ok") -> Any:
        """The next reply's value (``expect`` is its status); raises what the child raised or a LimitExceeded."""
        if not self.replies.poll(None if timeout is None else max(timeout, 0.0)):
            self.kill()
            raise LimitExceeded(f"stopped after {limits.wall_seconds:g} s (time limit)", limit="time")
        try:
            status, value = self.replies.recv()
        except (EOFError, OSError):
            with contextlib.suppress(subprocess.TimeoutExpired):  # it is exiting: read its real exit status
                self.process.wait(timeout=GRACE_SECONDS)
            code = self.kill()
            if limits.cpu_seconds is not None and code in (-signal.SIGXCPU, -signal.SIGKILL):
                raise LimitExceeded(f"stopped after {limits.cpu_seconds} CPU seconds", limit="cpu") from None
            if code == -signal.SIGKILL:  # the kernel's out-of-memory killer
                raise LimitExceeded("stopped: the work ran out of memory", limit="memory") from None
            raise LimitExceeded(f"the worker process stopped (exit code {code})", limit="process") from None
        self.idle_since = time.monotonic()
        if status == expect:
            return value
        if status != "error":  # pragma: no cover - a child speaks this protocol or is not a child
            self.kill()
            raise LimitExceeded(f"the worker process answered {status!r}", limit="process")
        if ran_out_of_memory(value):
            self.trusted = False
            if isinstance(value, MemoryError):
                raise LimitExceeded("stopped: the work exceeded its memory limit", limit="memory")
        raise value

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def address_space(self) -> int:
        """Bytes the child maps now (from Linux's /proc; 0 where that cannot be read)."""
        try:
            with open(f"/proc/{self.process.pid}/statm", "rb") as statm:
                return int(statm.read().split()[0]) * mmap.PAGESIZE
        except (OSError, ValueError, IndexError):
            return 0

    def kill(self) -> int:
        """Stop the child now; its exit code."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        for end in (self.requests, self.replies):
            end.close()
        with self.control_lock:
            if self.control >= 0:
                with contextlib.suppress(OSError):
                    os.close(self.control)
                self.control = -1
        return code

    def signal_kill(self) -> None:
        """SIGKILL the child from any thread; the thread that talks to it sees it gone and cleans up."""
        with contextlib.suppress(OSError):
            if self.process.poll() is None:
                self.process.kill()

    def stop(self) -> None:
        """Ask the child to finish, then make sure it did."""
        if self.process.poll() is None:
            try:
                self.requests.send(None)
                self.process.wait(timeout=GRACE_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


_SPARES: dict[tuple[ProcessLimits, tuple[tuple[str, str], ...]], tuple[threading.Thread, list[_Child]]] = {}
_SPARES_LOCK = threading.Lock()


def prestart(limits: ProcessLimits, *, env: Mapping[str, str] | None = None) -> None:
    """Start one child for ``limits`` now, in the background, for the next pool that needs one (a one-shot
    command starts it before it opens the mesh, so the child's interpreter start overlaps that work)."""
    key = (limits, tuple(sorted((env or {}).items())))
    with _SPARES_LOCK:
        if key in _SPARES:
            return
        box: list[_Child] = []

        def start() -> None:
            with contextlib.suppress(Exception):  # a pool starts its own child when this one failed
                box.append(_Child.start(limits, env=env))

        thread = threading.Thread(target=start, name="meshplane-worker-spare", daemon=True)
        _SPARES[key] = (thread, box)
    thread.start()


def _take_spare(limits: ProcessLimits, env: Mapping[str, str]) -> _Child | None:
    with _SPARES_LOCK:
        found = _SPARES.pop((limits, tuple(sorted(env.items()))), None)
    if found is None:
        return None
    thread, box = found
    thread.join()  # it has been starting for a while: waiting is shorter than starting anew
    return box[0] if box and box[0].alive else None


def run_limited(
    function: Callable[..., T],
    *args: Any,
    limits: ProcessLimits,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> T:
    """``function(*args)`` in a fresh child under ``limits``; raises LimitExceeded when a limit stops it.

    ``env`` adds variables to the child's minimal environment; ``cwd`` is its working directory.
    """
    child = _Child.start(limits, cwd=None if cwd is None else str(cwd), env=env)
    try:
        return child.call(limits, function, args)
    finally:
        child.stop()


class WorkerPool:
    """Long-lived limited children shared between owners, fairly; thread-safe.

    A child serves one call at a time and many calls in its life; a child that hit a limit, died, ran
    ``recycle_after`` calls or maps more than ``limits.recycle_above`` is replaced. ``max_workers`` bounds
    the children alive at once, ``per_owner`` the calls one owner runs at once: with ``per_owner <
    max_workers`` one owner's long calls always leave a child for the next owner.
    Idle children beyond ``keep_idle`` exit after ``idle_seconds``.
    """

    def __init__(
        self,
        limits: ProcessLimits,
        *,
        max_workers: int = 4,
        per_owner: int = 2,
        keep_idle: int = 1,
        idle_seconds: float = 120.0,
        recycle_after: int = 1000,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if max_workers < 1 or per_owner < 1:
            raise ValueError("max_workers and per_owner must be at least 1")
        self.limits = limits
        self.max_workers = max_workers
        self.per_owner = min(per_owner, max_workers)
        self.keep_idle = keep_idle
        self.idle_seconds = idle_seconds
        self.recycle_after = recycle_after
        self._env = dict(env or {})
        self._cond = threading.Condition()
        self._idle: list[_Child] = []
        self._alive = 0
        self._running: dict[str, int] = {}
        self._waiting: list[tuple[int, str]] = []  # (ticket, owner), in arrival order
        self._tickets = itertools.count()
        self._closed = False
        self.started = 0
        """Children this pool has started (or taken as a prestarted spare) in its life."""
        self._oversize_told = False

    def prestart(self, count: int = 1) -> None:
        """Start children in the background until ``count`` are idle (at most ``max_workers`` alive), so the
        first calls do not wait for them."""
        with self._cond:  # reserved here, at once: two callers never both start the child a third one needs
            starting = 0 if self._closed else min(count - len(self._idle), self.max_workers - self._alive)
            self._alive += max(0, starting)

        def start() -> None:
            try:
                child = self._start_child()
            except BaseException:
                with self._cond:
                    self._alive -= 1
                    self._cond.notify_all()
                return
            self._release(None, child)

        for _ in range(starting):
            threading.Thread(target=start, name="meshplane-worker-prestart", daemon=True).start()

    def call(self, owner: str, function: Callable[..., T], *args: Any, limits: ProcessLimits | None = None) -> T:
        """``function(*args)`` in a child, counted against ``owner``'s share; ``limits`` may tighten time."""
        child = self._acquire(owner)
        ok = False
        try:
            result = child.call(limits or self.limits, function, args)
            ok = True
            return result
        except LimitExceeded:
            raise
        except MeshError:
            ok = True  # the work failed; the child is fine
            raise
        except Exception:
            ok = child.alive
            raise
        finally:
            self._release(owner, child if ok else None, child)

    def running(self, owner: str) -> int:
        """How many children ``owner`` holds now (running calls and open streams)."""
        with self._cond:
            return self._running.get(owner, 0)

    def stream(self, owner: str, function: Callable[..., Any], *args: Any,
               limits: ProcessLimits | None = None) -> RemoteStream:  # fmt: skip
        """``function(*args)`` in a child returns an iterator of ``bytes``: its chunks, handed out one at a time.

        The iterator may carry ``exhausted`` (True once the last chunk was taken, so the end needs no extra
        round trip) and ``summary`` (sent with the last chunk). The child is ``owner``'s until the stream ends.
        """
        limits = limits or self.limits
        child = self._acquire(owner)
        try:
            child.wait_ready()
            call_id = child.send("stream", function, args)
        except BaseException:
            self._release(owner, None, child)
            raise
        return RemoteStream(self, owner, child, limits, call_id)

    def _acquire(self, owner: str) -> _Child:
        with self._cond:
            if self._closed:
                raise LimitExceeded("the worker pool is closed", limit="process")
            ticket = next(self._tickets)
            self._waiting.append((ticket, owner))
            try:
                while not self._my_turn(ticket, owner):
                    self._cond.wait()
                    if self._closed:
                        raise LimitExceeded("the worker pool is closed", limit="process")
            finally:
                self._waiting.remove((ticket, owner))
            self._running[owner] = self._running.get(owner, 0) + 1
            child = self._idle.pop() if self._idle else None
            if child is None:
                self._alive += 1
            self._cond.notify_all()  # another waiter may be eligible now
        if child is not None:
            return child
        try:
            return self._start_child()
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._running[owner] -= 1
                self._cond.notify_all()
            raise

    def _my_turn(self, ticket: int, owner: str) -> bool:
        if not self._idle and self._alive >= self.max_workers:
            return False
        eligible = [(self._running.get(o, 0), t) for t, o in self._waiting if self._running.get(o, 0) < self.per_owner]
        return bool(eligible) and min(eligible)[1] == ticket

    def _start_child(self) -> _Child:
        child = _take_spare(self.limits, self._env) or _Child.start(self.limits, env=self._env)
        with self._cond:
            self.started += 1
        return child

    def _reusable(self, child: _Child) -> bool:
        """Whether ``child`` may serve another call (the one place that decides it)."""
        if not child.alive or not child.trusted or child.calls >= self.recycle_after:
            return False
        limit = self.limits.recycle_above
        if limit is None or (mapped := child.address_space()) <= limit:
            return True
        if child.calls <= 1 and not self._oversize_told:
            # its own libraries fill the room: every call would pay for a new child's start, unseen
            self._oversize_told = True
            log.warning("a worker process maps %d MiB after its first call, above the %d MiB at which workers "
                        "are replaced: each call starts a new process; raise the limits' headroom",
                        mapped >> 20, limit >> 20)  # fmt: skip
        return False

    def _release(self, owner: str | None, keep: _Child | None, used: _Child | None = None) -> None:
        retire: list[_Child] = []
        with self._cond:
            if owner is not None:
                self._running[owner] -= 1
                if not self._running[owner]:
                    del self._running[owner]
            if keep is not None and not self._closed and self._reusable(keep):
                self._idle.append(keep)
            else:
                self._alive -= 1
                if used is not None:
                    retire.append(used)
                elif keep is not None:
                    retire.append(keep)
            now = time.monotonic()
            while len(self._idle) > self.keep_idle and now - self._idle[0].idle_since > self.idle_seconds:
                retire.append(self._idle.pop(0))
                self._alive -= 1
            self._cond.notify_all()
        for child in retire:
            child.stop()

    def close(self) -> None:
        """Stop every idle child; calls still running finish and their children stop after."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._cond.notify_all()
        for child in idle:
            child.stop()
