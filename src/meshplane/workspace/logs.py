"""Structured logs: one JSON line per request, per build and per scheduler round (and per notification
delivery attempt), on stderr, where ``meshplane serve``, ``schedule`` and ``notify deliver --loop`` run.

Code logs an event with :func:`log_event`; nothing is printed unless :func:`configure_json_logs` attached the
handler (library use and one-shot CLI commands stay quiet).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["JsonFormatter", "configure_json_logs", "log_event"]

EVENTS = logging.getLogger("meshplane.events")
_HANDLER_NAME = "meshplane-json"


def log_event(event: str, **fields: Any) -> None:
    if EVENTS.isEnabledFor(logging.INFO):
        EVENTS.info(event, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.levelno >= logging.ERROR:
            line["exception"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, default=str)


def configure_json_logs(stream: IO[str] | None = None, level: int = logging.INFO) -> None:
    """Send meshplane's logs as JSON lines to ``stream`` (stderr); calling it again changes nothing."""
    root = logging.getLogger("meshplane")
    if any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
