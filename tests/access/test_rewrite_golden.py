"""Golden files: the exact SQL the rewrite emits (tests/access/golden/*.sql).

Each file holds an input query after ``-- input`` and the expected rewrite after ``-- rewritten``.
Regenerate with ``MESHPLANE_UPDATE_GOLDEN=1 pytest tests/access/test_rewrite_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshplane.access import MaskKind, PortColumn, ReadablePort, rewrite_query
from meshplane.errors import AccessDenied
from meshplane.sql import PortRef

GOLDEN = Path(__file__).parent / "golden"
KEY = "consumer-key"


def resolve(ref: PortRef) -> ReadablePort:
    if ref.address == "podcasts.listening_events.listening_events":
        return ReadablePort(
            address=ref.address,
            version="1.0.0",
            files=(f"/warehouse/podcasts/listening_events/snap-{ref.as_of_snapshot or 7}/part-0.parquet",),
            columns=(
                PortColumn("event_id", "VARCHAR"),
                PortColumn("listener_email", "VARCHAR"),
                PortColumn("listener_id", "VARCHAR"),
                PortColumn("country", "VARCHAR"),
                PortColumn("seconds", "INTEGER"),
                PortColumn("ip", "VARCHAR"),
            ),
            masks={"listener_email": MaskKind.HASH, "ip": MaskKind.REDACT},
            granted_columns=frozenset({"event_id", "listener_email", "listener_id", "country", "seconds"}),
            row_filter="country IN ('FR', 'DE') AND seconds > 0",
            snapshot_id=ref.as_of_snapshot or 7,
        )
    if ref.address == "royalties.statements.statements":
        return ReadablePort(
            address=ref.address,
            version="2.1.0",
            files=("/warehouse/royalties/statements/a.parquet", "/warehouse/royalties/statements/b.parquet"),
            columns=(
                PortColumn("listener_id", "VARCHAR"),
                PortColumn("amount", "DECIMAL(12,2)"),
                PortColumn("payee_phone", "VARCHAR"),
                PortColumn("note", "VARCHAR"),
            ),
            masks={"payee_phone": MaskKind.PARTIAL, "note": MaskKind.NULL},
        )
    raise AccessDenied(f"{ref.address} is not readable")


def _split(text: str) -> tuple[str, str]:
    head, _, expected = text.partition("-- rewritten\n")
    return head.removeprefix("-- input\n").strip(), expected.strip()


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.sql")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    query, expected = _split(path.read_text())
    actual = rewrite_query(query, resolve, consumer_key=KEY).sql
    if os.environ.get("MESHPLANE_UPDATE_GOLDEN"):
        path.write_text(f"-- input\n{query}\n-- rewritten\n{actual}\n")
        return
    assert actual == expected


def test_golden_files_exist() -> None:
    assert len(list(GOLDEN.glob("*.sql"))) >= 5
