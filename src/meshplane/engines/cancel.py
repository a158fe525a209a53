"""In a limited child process: what cancels the call running now (see :mod:`meshplane.engines.limits`).

The child's control thread reads the ids of calls the parent cancels and fires the running call's callback;
ids grow, so a cancel that overtakes its own request is kept for that call and never reaches a later one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

__all__ = ["on_cancel"]


class _CancelHook:
    """In a child: the call running now and what cancels it (the control thread fires it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.call = 0
        self.callback: Callable[[], None] | None = None
        self.cancelled = False
        self.early = 0
        """A call cancelled before this process began it (the cancel overtook the request)."""


_HOOK = _CancelHook()


def _begin_call(call_id: int) -> None:
    with _HOOK.lock:
        _HOOK.call, _HOOK.callback, _HOOK.cancelled = call_id, None, _HOOK.early == call_id


def _cancel_call(call_id: int) -> None:
    with _HOOK.lock:
        if call_id > _HOOK.call:  # ids grow: this call is on its way
            _HOOK.early = call_id
            return
        if call_id != _HOOK.call:
            return
        _HOOK.cancelled = True
        callback = _HOOK.callback
    if callback is not None:
        with contextlib.suppress(Exception):
            callback()


def on_cancel(callback: Callable[[], None]) -> None:
    """In a child, during a call: run ``callback`` (from another thread) when the parent cancels this call;
    at once when it already did."""
    with _HOOK.lock:
        _HOOK.callback = callback
        fire = _HOOK.cancelled
    if fire:
        with contextlib.suppress(Exception):
            callback()
