"""Full-text search over the catalog: one interface, SQLite FTS5 or PostgreSQL tsvector underneath.

Each product, port, column and glossary term is one row of ``mp_search_docs`` with four weighted
fields (name > keywords [tags, semantic types] > owner [team, domain] > description). The dialects
differ only in how a query matches and scores (:class:`SearchDialect`); filters, facet counts, kind
boosts and snippets are shared.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog.records import (
    CLASSIFICATION_ORDER,
    MeshSnapshot,
    SearchHit,
    SearchKind,
    SearchResults,
)
from meshplane.catalog.schema import search_docs

__all__ = ["FACETS", "SearchDialect", "dialect_for", "documents", "reindex", "search"]

FACETS = ("kind", "domain", "classification", "status", "access_level")

# With equal text relevance, a product is the better answer than one of its ports or columns.
_KIND_BOOST = {SearchKind.PRODUCT: 1.5, SearchKind.GLOSSARY: 1.3, SearchKind.PORT: 1.2, SearchKind.COLUMN: 1.0}
_SEP = "\x1f"  # unit separator: never part of a facet value
_WORD = re.compile(r"[^\W_]+")
_SNIPPET_BEFORE, _SNIPPET_AFTER = 60, 100


def _highest(classifications: Iterable[str | None]) -> str | None:
    ranks = [CLASSIFICATION_ORDER.index(c) for c in classifications if c in CLASSIFICATION_ORDER]
    return CLASSIFICATION_ORDER[max(ranks)] if ranks else None


def _join(*parts: Iterable[str | None] | str | None) -> str:
    words: list[str] = []
    for part in parts:
        if isinstance(part, str):
            words.append(part)
        elif part is not None:
            words.extend(p for p in part if p)
    return " ".join(w for w in words if w)


def documents(snapshot: MeshSnapshot) -> Iterator[dict[str, Any]]:
    """The search rows for a snapshot, with ids assigned in order."""
    teams = {t.name: t for t in snapshot.teams}
    ids = iter(range(1, 1 << 62))

    def doc(kind: SearchKind, address: str, title: str, **fields: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": next(ids), "kind": kind.value, "address": address, "title": title, "domain": None,
            "classification": None, "status": None, "access_level": None, "name_text": "",
            "keyword_text": "", "owner_text": "", "body_text": "",
        }  # fmt: skip
        row.update(fields)
        row["facet_key"] = _SEP.join(row[f] or "" for f in FACETS)
        return row

    for product in snapshot.products:
        team = teams.get(product.owner_team)
        owner = _join(product.owner_team, team.title if team else None, product.domain)
        every_column = [c.classification for port in product.ports for c in port.columns]
        yield doc(
            SearchKind.PRODUCT, product.address, product.title or product.name,
            domain=product.domain, classification=_highest(every_column), status=product.status,
            access_level=product.access_level, name_text=_join(product.name, product.title),
            keyword_text=_join(product.tags), owner_text=owner, body_text=product.description,
        )  # fmt: skip
        for port in product.ports:
            port_name = port.address.rsplit(".", 1)[1]
            yield doc(
                SearchKind.PORT, port.address, port.address, domain=product.domain,
                classification=_highest(c.classification for c in port.columns), status=port.status,
                access_level=port.access_level, name_text=port_name,
                keyword_text=_join(product.name, product.tags), owner_text=owner,
                body_text=port.description,
            )  # fmt: skip
            for column in port.columns:
                yield doc(
                    SearchKind.COLUMN, f"{port.address}.{column.name}", f"{port.address}.{column.name}",
                    domain=product.domain, classification=column.classification, status=port.status,
                    access_level=port.access_level, name_text=column.name,
                    keyword_text=_join(column.semantic_type, column.classification, port_name),
                    owner_text=owner, body_text=column.description,
                )  # fmt: skip
    for term in snapshot.glossary:
        yield doc(
            SearchKind.GLOSSARY, f"glossary:{term.name}", term.title or term.name,
            classification=term.classification, name_text=_join(term.name, term.title),
            keyword_text=term.logical_type, body_text=term.description,
        )  # fmt: skip


class SearchDialect(Protocol):
    """What differs between databases: keeping the index fresh, matching, scoring."""

    def refresh(self, conn: Connection) -> None: ...

    def matching(
        self, tokens: list[str]
    ) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        """The FROM clause, the match condition and the relevance (higher is better)."""
        ...


# FTS5 exposes a hidden column named after the table, used both for MATCH and for commands.
fts = sa.table("mp_search_fts", sa.column("rowid", sa.Integer), sa.column("mp_search_fts", sa.Text))
_FTS: sa.ColumnElement[Any] = sa.literal_column("mp_search_fts")


class SqliteSearch:
    """FTS5 with an external-content table rebuilt from ``mp_search_docs`` after each sync."""

    def refresh(self, conn: Connection) -> None:
        conn.execute(sa.insert(fts).values(mp_search_fts="rebuild"))

    def matching(
        self, tokens: list[str]
    ) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        # Tokens are letters and digits only, so quoting them cannot inject FTS5 syntax.
        query = " AND ".join(f'"{t}"*' for t in tokens)
        source = search_docs.join(fts, fts.c.rowid == search_docs.c.id)
        # bm25() is lower-is-better and negative; the weights follow the column order of the index.
        return source, _FTS.match(query), -sa.func.bm25(_FTS, 10.0, 4.0, 2.0, 1.0)


_TSV: sa.ColumnElement[Any] = sa.literal_column("mp_search_docs.tsv")


class PostgresSearch:
    """A generated, weighted ``tsvector`` column with a GIN index; prefix queries with ``:*``."""

    def refresh(self, conn: Connection) -> None:
        conn.execute(sa.text("ANALYZE mp_search_docs"))

    def matching(
        self, tokens: list[str]
    ) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        query = sa.func.to_tsquery("simple", " & ".join(f"{t}:*" for t in tokens))
        # Weights for {D, C, B, A}: description, owner, keywords, name; 1 = divide by log(length).
        weights: sa.ColumnElement[Any] = sa.literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
        return search_docs, _TSV.bool_op("@@")(query), sa.func.ts_rank(weights, _TSV, query, 1)


def dialect_for(name: str) -> SearchDialect:
    return SqliteSearch() if name == "sqlite" else PostgresSearch()


def reindex(conn: Connection, dialect: SearchDialect, snapshot: MeshSnapshot) -> None:
    conn.execute(sa.delete(search_docs))
    batch: list[dict[str, Any]] = []
    for row in documents(snapshot):
        batch.append(row)
        if len(batch) == 5000:
            conn.execute(sa.insert(search_docs), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(search_docs), batch)
    dialect.refresh(conn)


def tokens_of(text: str) -> list[str]:
    return [t.lower() for t in _WORD.findall(text)][:16]


def _snippet(text: str, tokens: list[str]) -> str:
    text = " ".join(text.split())
    starts = [
        m.start()
        for t in tokens
        if (m := re.search(rf"(?<![^\W_]){re.escape(t)}", text, flags=re.IGNORECASE)) is not None
    ]
    if not starts:
        return text[: _SNIPPET_BEFORE + _SNIPPET_AFTER] + ("…" if len(text) > 160 else "")
    first = min(starts)
    lo, hi = max(0, first - _SNIPPET_BEFORE), first + _SNIPPET_AFTER
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def search(
    conn: Connection,
    dialect: SearchDialect,
    text: str,
    filters: Mapping[str, Iterable[str]],
    limit: int,
    offset: int,
) -> SearchResults:
    tokens = tokens_of(text)
    source: sa.FromClause = search_docs
    conditions: list[sa.ColumnElement[bool]] = []
    relevance: sa.ColumnElement[float] = sa.literal(1.0)
    if tokens:
        source, match, relevance = dialect.matching(tokens)
        conditions.append(match)
    for facet, values in filters.items():
        if facet not in FACETS:
            raise ValueError(f"unknown search facet {facet!r}; use one of {', '.join(FACETS)}")
        wanted = sorted({str(v) for v in values})
        if wanted:
            conditions.append(search_docs.c[facet].in_(wanted))

    key = search_docs.c.facet_key
    counted = sa.select(key, sa.func.count()).select_from(source).where(*conditions).group_by(key)
    facets: dict[str, dict[str, int]] = {f: defaultdict(int) for f in FACETS}
    total = 0
    for combined, n in conn.execute(counted).tuples():
        total += n
        for facet, value in zip(FACETS, combined.split(_SEP), strict=True):
            if value:
                facets[facet][value] += n
    if total == 0:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})

    boost = sa.case(
        *((search_docs.c.kind == kind.value, factor) for kind, factor in _KIND_BOOST.items()), else_=1.0
    )
    score = relevance * boost
    page = (
        sa.select(search_docs, score.label("score"))
        .select_from(source)
        .where(*conditions)
        .order_by(sa.desc("score"), search_docs.c.address)
        .limit(limit)
        .offset(offset)
    )
    hits = tuple(
        SearchHit(
            kind=SearchKind(row.kind),
            address=row.address,
            title=row.title,
            snippet=_snippet(row.body_text or row.name_text, tokens),
            score=float(row.score),
            domain=row.domain,
            classification=row.classification,
            status=row.status,
            access_level=row.access_level,
        )
        for row in conn.execute(page)
    )
    ordered = {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in facets.items()}
    return SearchResults(text, total, hits, ordered)
