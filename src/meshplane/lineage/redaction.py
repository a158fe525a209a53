"""Error text that leaves the platform (OpenLineage events, logs) without data values in it."""

from __future__ import annotations

import re

__all__ = ["redact"]

# Quoted literals in engine errors may be data values (DuckDB quotes the value it could not convert).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def redact(message: str) -> str:
    """The first line of an error with quoted literals replaced, so no data value leaves in an event."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return _QUOTED.sub("'…'", first)
