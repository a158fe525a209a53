"""The portal's workbench in the catalog: each person's query history and saved queries, the annotations
owners write on their products in the portal (kept apart from the product files, and shown as such), and the
teams the identity provider vouched for at a person's last sign-in.

History is per person and bounded (:data:`HISTORY_KEPT` newest entries); it is not the audit trail, which is
``mp_query_log`` and is written by the gateway whatever surface ran the query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog import schema
from meshplane.catalog.database import Database

__all__ = ["HISTORY_KEPT", "Annotation", "HistoryEntry", "SavedQuery", "SignInTeams", "WorkbenchStore"]

HISTORY_KEPT = 200  # per person; older entries are dropped as new ones arrive
ANNOTATED_FIELDS = ("description", "tags")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    username: str
    at: datetime
    sql: str
    rows: int | None
    duration_ms: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SavedQuery:
    id: str
    username: str
    name: str
    sql: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Annotation:
    product: str
    field: str
    value: Any  # a string (description) or a list of strings (tags)
    author: str
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class WorkbenchStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- history -----------------------------------------------------------------------------------

    def record(self, username: str, sql: str, *, rows: int | None, duration_ms: float | None,
               error: str | None = None) -> None:  # fmt: skip
        table = schema.query_history

        def work(conn: Connection) -> None:
            conn.execute(table.insert().values(username=username, at=_now(), sql_text=sql, rows=rows,
                                               duration_ms=duration_ms, error=error))  # fmt: skip
            keep = (sa.select(table.c.id).where(table.c.username == username)
                    .order_by(table.c.at.desc(), table.c.id.desc()).limit(HISTORY_KEPT))  # fmt: skip
            conn.execute(table.delete().where(table.c.username == username, table.c.id.not_in(keep.scalar_subquery())))

        self._db.write(work)

    def history(self, username: str, *, limit: int = 50) -> list[HistoryEntry]:
        table = schema.query_history
        query = (sa.select(table).where(table.c.username == username)
                 .order_by(table.c.at.desc(), table.c.id.desc()).limit(limit))  # fmt: skip
        with self._db.read() as conn:
            return [HistoryEntry(r.id, r.username, r.at, r.sql_text, r.rows, r.duration_ms, r.error)
                    for r in conn.execute(query)]  # fmt: skip

    def clear_history(self, username: str) -> int:
        table = schema.query_history
        return self._db.write(lambda conn: conn.execute(table.delete().where(table.c.username == username)).rowcount)

    # --- saved queries -----------------------------------------------------------------------------

    def save(self, username: str, name: str, sql: str) -> SavedQuery:
        """Save (or replace) the person's query called ``name``."""
        table = schema.saved_queries
        now = _now()

        def work(conn: Connection) -> str:
            found = conn.execute(sa.select(table.c.id).where(table.c.username == username,
                                                             table.c.name == name)).scalar()  # fmt: skip
            if found is not None:
                conn.execute(table.update().where(table.c.id == found).values(sql_text=sql, updated_at=now))
                return str(found)
            new_id = uuid.uuid4().hex[:16]
            conn.execute(table.insert().values(id=new_id, username=username, name=name, sql_text=sql, updated_at=now))
            return new_id

        return SavedQuery(self._db.write(work), username, name, sql, now)

    def saved(self, username: str) -> list[SavedQuery]:
        table = schema.saved_queries
        with self._db.read() as conn:
            rows = conn.execute(sa.select(table).where(table.c.username == username).order_by(table.c.name))
            return [SavedQuery(r.id, r.username, r.name, r.sql_text, r.updated_at) for r in rows]

    def delete_saved(self, username: str, query_id: str) -> bool:
        """Delete one of the person's own saved queries (someone else's id deletes nothing)."""
        table = schema.saved_queries
        done = self._db.write(lambda conn: conn.execute(
            table.delete().where(table.c.id == query_id, table.c.username == username)).rowcount)  # fmt: skip
        return bool(done)

    # --- annotations -------------------------------------------------------------------------------

    def annotate(self, product: str, field: str, value: Any, author: str) -> None:
        """Set (or with ``value`` None, remove) one annotation of a product."""
        if field not in ANNOTATED_FIELDS:
            raise ValueError(f"annotations hold {' or '.join(ANNOTATED_FIELDS)}, not {field!r}")
        table = schema.product_annotations

        def work(conn: Connection) -> None:
            conn.execute(table.delete().where(table.c.product == product, table.c.field == field))
            if value is not None:
                conn.execute(table.insert().values(product=product, field=field, value=value, author=author,
                                                   updated_at=_now()))  # fmt: skip

        self._db.write(work)

    def annotations(self, product: str | None = None) -> list[Annotation]:
        table = schema.product_annotations
        query = sa.select(table).order_by(table.c.product, table.c.field)
        if product is not None:
            query = query.where(table.c.product == product)
        with self._db.read() as conn:
            return [Annotation(r.product, r.field, r.value, r.author, r.updated_at) for r in conn.execute(query)]


class SignInTeams:
    """Per person: the teams the identity provider's groups mapped to at their last sign-in, until when."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, username: str, teams: Sequence[str], groups: Sequence[str], expires_at: datetime) -> None:
        """Replace the person's teams (an empty list removes what an earlier sign-in gave them)."""
        table = schema.signin_teams

        def work(conn: Connection) -> None:
            conn.execute(table.delete().where(table.c.username == username))
            conn.execute(table.insert().values(username=username, teams=sorted(set(teams)), groups=list(groups),
                                               signed_in_at=_now(), expires_at=expires_at))  # fmt: skip

        self._db.write(work)

    def teams(self, username: str, *, now: datetime | None = None) -> frozenset[str]:
        """The teams in force for ``username`` (none once the sign-in that gave them expired)."""
        table = schema.signin_teams
        query = sa.select(table.c.teams).where(table.c.username == username, table.c.expires_at > (now or _now()))
        with self._db.read() as conn:
            found = conn.execute(query).scalar()
        return frozenset(str(t) for t in found) if isinstance(found, list) else frozenset()
