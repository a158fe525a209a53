"""Entry point of a limited child process (see :mod:`meshplane.engines.limits`); not an API.

``python -m meshplane.engines._worker REQUEST_FD REPLY_FD MEMORY_BYTES CPU_SECONDS``: caps its own address
space and CPU time first, then serves pickled ``(function, args)`` calls from the request pipe until it
reads ``None`` or the pipe closes, answering ``("ok", value)`` or ``("error", exception)`` on the reply pipe.
"""

from __future__ import annotations

import pickle
import resource
import signal
import sys
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


def main(argv: list[str]) -> None:
    request_fd, reply_fd, memory, cpu = (int(a) for a in argv)
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu)  # the soft limit sends SIGXCPU, whose default action ends the process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
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
            function, args = message
            reply = ("ok", function(*args))
        except BaseException as error:  # every failure goes back to the parent, which decides
            reply = ("error", _portable(error))
        try:
            replies.send(reply)
        except MemoryError:
            replies.send(("error", MemoryError("the result did not fit in the memory limit")))
        except Exception as error:
            replies.send(("error", _portable(error)))
        if reply[0] == "error" and isinstance(reply[1], MemoryError):
            return  # a process that ran out of memory once is not trusted with the next call


if __name__ == "__main__":
    main(sys.argv[1:])
