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
# SQLite search rows: id = (facet combination << COMBO_SHIFT) | sequence number within the combination.
COMBO_SHIFT = 24


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


def documents(snapshot: MeshSnapshot, *, packed: bool = False) -> Iterator[dict[str, Any]]:
    """The search rows for a snapshot. Ids count up from 1, or, when ``packed`` (SQLite), carry the row's
    facet combination in their high bits (``id >> COMBO_SHIFT``), so facet counts and filters need only
    the FTS index's rowids, never a join (see :class:`SqliteSearch`)."""
    rows = list(_documents(snapshot))
    if not packed:
        for number, row in enumerate(rows, start=1):
            row["id"] = number
        yield from rows
        return
    combos: dict[str, int] = {key: i for i, key in enumerate(sorted({r["facet_key"] for r in rows}), start=1)}
    counters: dict[str, int] = defaultdict(int)
    for row in rows:
        key = row["facet_key"]
        counters[key] += 1
        if counters[key] >= 1 << COMBO_SHIFT:
            raise ValueError(f"more than {1 << COMBO_SHIFT} search rows share the facets {key!r}")
        row["id"] = (combos[key] << COMBO_SHIFT) | counters[key]
    yield from rows


def _documents(snapshot: MeshSnapshot) -> Iterator[dict[str, Any]]:
    teams = {t.name: t for t in snapshot.teams}
    def doc(kind: SearchKind, address: str, title: str, **fields: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": 0, "kind": kind.value, "address": address, "title": title, "domain": None,
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
    for row in documents(snapshot, packed=isinstance(dialect, SqliteSearch)):
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
    for facet in filters:
        if facet not in FACETS:
            raise ValueError(f"unknown search facet {facet!r}; use one of {', '.join(FACETS)}")
    if tokens and isinstance(dialect, SqliteSearch):
        return sqlite_search(conn, text, tokens, filters, limit, offset)
    source: sa.FromClause = search_docs
    conditions: list[sa.ColumnElement[bool]] = []
    relevance: sa.ColumnElement[float] = sa.literal(1.0)
    if tokens:
        source, match, relevance = dialect.matching(tokens)
        conditions.append(match)
    for facet, values in filters.items():
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
    hits = tuple(_hit(row, tokens, float(row.score)) for row in conn.execute(page))
    return SearchResults(text, total, hits, _ordered(facets))


def _hit(row: Any, tokens: list[str], score: float) -> SearchHit:
    return SearchHit(
        kind=SearchKind(row.kind),
        address=row.address,
        title=row.title,
        snippet=_snippet(row.body_text or row.name_text, tokens),
        score=score,
        domain=row.domain,
        classification=row.classification,
        status=row.status,
        access_level=row.access_level,
    )


def _ordered(facets: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in facets.items()}


# --- SQLite: facets and ranking from the FTS index's rowids alone ------------------------------------

_RID: sa.ColumnElement[int] = sa.literal_column("mp_search_fts.rowid")
_COMBO: sa.ColumnElement[int] = _RID.op(">>")(COMBO_SHIFT)


def _fts_query(tokens: list[str], columns: str | None = None) -> str:
    # Tokens are letters and digits only, so quoting them cannot inject FTS5 syntax.
    body = " AND ".join(f'"{t}"*' for t in tokens)
    return f"{{{columns}}} : ({body})" if columns else f"({body})"


def _tiers(tokens: list[str]) -> list[str]:
    """Name matches first, then keyword (tag, semantic type) matches, then the rest; bm25 within a tier.

    Ranking a tier costs one docsize lookup per row, so most pages rank only the small name tier.
    """
    name, keyword, every = _fts_query(tokens, "name_text"), _fts_query(tokens, "name_text keyword_text"), _fts_query(
        tokens)  # fmt: skip
    return [name, f"{keyword} NOT {name}", f"{every} NOT {keyword}"]


def sqlite_search(
    conn: Connection, text: str, tokens: list[str], filters: Mapping[str, Iterable[str]], limit: int, offset: int
) -> SearchResults:
    """Exact facet counts by grouping matching rowids by their facet combination (no join); filters become
    a condition on that combination; ranking runs tier by tier (see :func:`_tiers`) inside the FTS index,
    and only the page's rows are read from ``mp_search_docs``."""
    groups = conn.execute(
        sa.select(_COMBO.label("combo"), sa.func.count(), sa.func.min(_RID))
        .select_from(fts).where(_FTS.match(_fts_query(tokens))).group_by(sa.literal_column("combo"))
    ).all()  # fmt: skip
    if not groups:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})
    first_ids = [int(first) for _, _, first in groups]
    keys = dict(conn.execute(
        sa.select(search_docs.c.id, search_docs.c.facet_key).where(search_docs.c.id.in_(first_ids))
    ).tuples().all())  # fmt: skip
    wanted = {f: {str(v) for v in values} for f, values in filters.items() if values}
    facets: dict[str, dict[str, int]] = {f: defaultdict(int) for f in FACETS}
    by_kind: dict[str, list[int]] = defaultdict(list)
    allowed: list[int] = []
    total = 0
    for combo, count, first in groups:
        values = dict(zip(FACETS, keys[int(first)].split(_SEP), strict=True))
        if any(values[f] not in accepted for f, accepted in wanted.items()):
            continue
        allowed.append(int(combo))
        by_kind[values["kind"]].append(int(combo))
        total += int(count)
        for facet, value in values.items():
            if value:
                facets[facet][value] += int(count)
    if total == 0:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})

    boost = sa.case(
        *((_COMBO.in_(by_kind[k.value]), factor) for k, factor in _KIND_BOOST.items() if by_kind.get(k.value)),
        else_=1.0,
    )
    relevance = (-sa.func.bm25(_FTS, 10.0, 4.0, 2.0, 1.0) * boost).label("score")
    restrict = [_COMBO.in_(allowed)] if wanted else []
    ranked: list[tuple[int, float]] = []
    skip, remaining = offset, limit
    for tier, query in enumerate(_tiers(tokens)):
        if remaining <= 0:
            break
        where = [_FTS.match(query), *restrict]
        if skip:
            size = int(conn.execute(sa.select(sa.func.count()).select_from(fts).where(*where)).scalar_one())
            if size <= skip:
                skip -= size
                continue
        page = (sa.select(_RID, relevance).select_from(fts).where(*where)
                .order_by(sa.desc("score"), _RID).limit(remaining).offset(skip))  # fmt: skip
        bonus = 1000.0 * (2 - tier)  # keeps scores ordered across tiers
        found = [(int(rowid), float(score) + bonus) for rowid, score in conn.execute(page).tuples()]
        ranked.extend(found)
        remaining -= len(found)
        skip = 0
    chosen = sa.select(search_docs).where(search_docs.c.id.in_([i for i, _ in ranked]))
    rows = {row.id: row for row in conn.execute(chosen)}
    hits = tuple(_hit(rows[i], tokens, score) for i, score in ranked if i in rows)
    return SearchResults(text, total, hits, _ordered(facets))
