"""The query log's write-behind: batched, complete, in order, flushed on close, failures kept and surfaced."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from meshplane.access.query_log import QueryLogWriter
from meshplane.catalog import CatalogStore, QueryDecision
from meshplane.catalog import QueryLogEntry as CatalogQueryEntry


class FakeWriter:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail = False

    def log_queries(self, entries: Sequence[tuple[CatalogQueryEntry, Mapping[str, Any]]]) -> list[int]:
        if self.fail:
            raise RuntimeError("catalog down")
        self.batches.append([entry.sql for entry, _ in entries])
        return list(range(len(entries)))


def entry(n: int) -> CatalogQueryEntry:
    return CatalogQueryEntry(username="u", sql=f"q{n}", decision=QueryDecision.ALLOWED)


def test_every_entry_is_written_once_in_order_and_close_flushes() -> None:
    fake = FakeWriter()
    log = QueryLogWriter(fake, max_batch=7)  # type: ignore[arg-type]
    for n in range(300):
        log.submit(entry(n), {})
    log.close()
    written = [sql for batch in fake.batches for sql in batch]
    assert written == [f"q{n}" for n in range(300)]
    assert all(len(batch) <= 7 for batch in fake.batches)


def test_concurrent_submitters_lose_nothing() -> None:
    fake = FakeWriter()
    log = QueryLogWriter(fake)  # type: ignore[arg-type]

    def work(base: int) -> None:
        for n in range(100):
            log.submit(entry(base + n), {})

    threads = [threading.Thread(target=work, args=(i * 1000,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.flush()
    written = [sql for batch in fake.batches for sql in batch]
    assert sorted(written) == sorted(f"q{i * 1000 + n}" for i in range(8) for n in range(100))
    log.close()


def test_a_failed_write_keeps_its_entries_and_the_next_query_fails_loudly() -> None:
    fake = FakeWriter()
    log = QueryLogWriter(fake)  # type: ignore[arg-type]
    fake.fail = True
    log.submit(entry(1), {})
    with pytest.raises(RuntimeError):
        log.flush()
    with pytest.raises(RuntimeError):  # the writer is failing: submit writes synchronously and raises
        log.submit(entry(2), {})
    fake.fail = False
    log.close()
    assert [sql for batch in fake.batches for sql in batch] == ["q1", "q2"]


def test_batches_reach_the_catalog_with_their_audit_events(tmp_path: Path) -> None:
    store = CatalogStore.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    log = QueryLogWriter(store.writer)
    for n in range(50):
        log.submit(CatalogQueryEntry(username="raj", sql=f"SELECT {n}", decision=QueryDecision.ALLOWED,
                                     ports=("a.b.c",), rows=n), {"decision": "allowed"})  # fmt: skip
    log.close()
    logged = store.reader.query_log(limit=100)
    assert [e.sql for e in reversed(logged)] == [f"SELECT {n}" for n in range(50)]
    audit = store.reader.audit_log(action="query", limit=100)
    assert sorted(e.detail["query"] for e in audit) == sorted(e.id for e in logged)
    assert {e.subject for e in audit} == {"a.b.c"}
    store.close()
