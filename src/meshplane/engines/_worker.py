"""Entry point of a limited child process (see :mod:`meshplane.engines.limits`); not an API.

``python -m meshplane.engines._worker REQUEST_FD REPLY_FD CONTROL_FD MEMORY_BYTES CPU_SECONDS``: caps its own
address space and CPU time first, imports the modules named in ``$MESHPLANE_WORKER_PRELOAD``
(comma-separated), answers ``("ready", None)``, then serves pickled requests from the request pipe until it
reads ``None`` or the pipe closes:

- ``("call", id, function, args)``: answers ``("ok", value)`` or ``("error", exception)``;
- ``("stream", id, function, args)``: ``function(*args)`` returns an iterator of ``bytes`` chunks with an
  ``exhausted`` attribute; each chunk goes back as ``("chunk", (data, done, summary))``. The next chunk is
  prepared while the parent handles this one (one chunk ahead, never more), then sent on ``"next"``;
  ``"close"`` closes the iterator early and is answered ``("closed", None)``.

The control pipe carries 8-byte call ids: a thread reads them and cancels that call if it is still the one
running (:func:`meshplane.engines.limits.on_cancel`), so a cancel never reaches a later call.
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import struct
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any


def _limit(kind: int, value: int) -> None:
    if value > 0:
        _, hard = resource.getrlimit(kind)
        bound = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (bound, hard if kind == resource.RLIMIT_CPU else bound))


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else its kind and message."""
    from meshplane.engines.limits import RemoteError

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RemoteError(type(error).__name__, str(error))
    return error


def _out_of_memory(error: BaseException) -> bool:
    from meshplane.engines.limits import ran_out_of_memory

    return ran_out_of_memory(error)


def _control(fd: int) -> None:
    """Cancel the running call when the parent names it on the control pipe."""
    from meshplane.engines.cancel import _cancel_call

    while True:
        try:
            data = os.read(fd, 8)
        except OSError:
            return
        if len(data) < 8:
            return
        _cancel_call(struct.unpack("!q", data)[0])


def _send(replies: Connection, reply: tuple[str, Any]) -> None:
    try:
        replies.send(reply)
    except MemoryError:
        replies.send(("error", MemoryError("the result did not fit in the memory limit")))
    except Exception as error:
        replies.send(("error", _portable(error)))


def _next_reply(chunks: Iterator[bytes]) -> tuple[str, Any]:
    try:
        data = next(chunks, b"")
        done = bool(getattr(chunks, "exhausted", True))
        return "chunk", (data, done, getattr(chunks, "summary", None) if done else None)
    except BaseException as error:  # the parent decides what a failure means
        return "error", _portable(error)


def _serve_stream(chunks: Iterator[bytes], requests: Connection, replies: Connection) -> bool:
    """Hand out ``chunks`` on the parent's demand; False when the parent asked this process to end."""
    try:
        reply = _next_reply(chunks)
        while True:
            _send(replies, reply)
            if reply[0] != "chunk":
                return not _out_of_memory(reply[1])  # out of memory once: not trusted again
            if reply[1][1]:
                return True
            reply = _next_reply(chunks)  # prepared while the parent handles the last one
            try:
                message = pickle.loads(requests.recv_bytes())
            except (EOFError, OSError):
                return False
            if message != "next":
                replies.send(("closed", None))
                return message is not None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def main(argv: list[str]) -> None:
    request_fd, reply_fd, control_fd, memory, cpu = (int(a) for a in argv)
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu)  # the soft limit sends SIGXCPU, whose default action ends the process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import importlib

    from meshplane.engines.cancel import _begin_call

    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
    for module in filter(None, os.environ.get("MESHPLANE_WORKER_PRELOAD", "").split(",")):
        importlib.import_module(module)  # before "ready": the first call's time limit does not pay for it
    replies.send(("ready", None))
    threading.Thread(target=_control, args=(control_fd,), name="meshplane-worker-control", daemon=True).start()
    while True:
        try:
            raw = requests.recv_bytes()
        except (EOFError, OSError):
            return
        reply: tuple[str, Any]
        try:
            message = pickle.loads(raw)
            if message is None:
                return
            kind, call_id, function, args = message
            _begin_call(call_id)
            if kind == "stream":
                if not _serve_stream(function(*args), requests, replies):
                    return
                continue
            reply = ("ok", function(*args))
        except BaseException as error:  # every failure goes back to the parent, which decides
            reply = ("error", _portable(error))
        _send(replies, reply)
        if reply[0] == "error" and _out_of_memory(reply[1]):
            return  # a process that ran out of memory once is not trusted with the next call


if __name__ == "__main__":
    main(sys.argv[1:])
