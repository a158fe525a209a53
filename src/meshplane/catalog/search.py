"""Full-text search over the catalog: one interface, SQLite FTS5 or PostgreSQL tsvector underneath.

Each product, port, column and glossary term is one row of ``mp_search_docs`` with four weighted
fields (name > keywords [tags, semantic types] > owner [team, domain] > description). The dialects
differ only in how a query matches and scores (:class:`SearchDialect`); filters, facet counts, kind
boosts and snippets are shared.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
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

__all__ = ["FACETS", "SearchDialect", "dialect_for", "documents", "index_version", "reindex", "search"]

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

    def matching(self, tokens: list[str]) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        """The FROM clause, the match condition and the relevance (higher is better)."""
        ...


# FTS5 exposes a hidden column named after the table, used both for MATCH and for commands.
fts = sa.table("mp_search_fts", sa.column("rowid", sa.Integer), sa.column("mp_search_fts", sa.Text))
_FTS: sa.ColumnElement[Any] = sa.literal_column("mp_search_fts")


class SqliteSearch:
    """FTS5 with an external-content table rebuilt from ``mp_search_docs`` after each sync."""

    def refresh(self, conn: Connection) -> None:
        conn.execute(sa.insert(fts).values(mp_search_fts="rebuild"))

    def matching(self, tokens: list[str]) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        # Tokens are letters and digits only, so quoting them cannot inject FTS5 syntax.
        query = " AND ".join(f'"{t}"*' for t in tokens)
        source = search_docs.join(fts, fts.c.rowid == search_docs.c.id)
        # bm25() is lower-is-better and negative; the weights follow the column order of the index.
        return source, _FTS.match(query), -sa.func.bm25(_FTS, 10.0, 4.0, 2.0, 1.0)


# PostgreSQL's index table (migration 0002): id, facet combination, and three tsvectors with GIN indexes.
pg_fts = sa.table(
    "mp_search_fts_pg", sa.column("id", sa.Integer), sa.column("combo", sa.Integer), sa.column("tsv"),
    sa.column("tsv_name"), sa.column("tsv_key"),
)  # fmt: skip
_PG_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'::float4[]"  # {D, C, B, A}: description, owner, keywords, name
# Up to this many matches, ranking them all in one scan is cheaper than one index scan per tier.
_PG_ONE_PASS = 10_000

_PG_FILL = """
INSERT INTO mp_search_fts_pg (id, combo, tsv, tsv_name, tsv_key)
SELECT id, dense_rank() OVER (ORDER BY facet_key),
    setweight(to_tsvector('simple', mp_words(name_text)), 'A')
    || setweight(to_tsvector('simple', mp_words(keyword_text)), 'B')
    || setweight(to_tsvector('simple', mp_words(owner_text)), 'C')
    || setweight(to_tsvector('simple', mp_words(body_text)), 'D'),
    to_tsvector('simple', mp_words(name_text)),
    to_tsvector('simple', mp_words(name_text || ' ' || keyword_text))
FROM mp_search_docs
"""


class PostgresSearch:
    """A narrow table of weighted ``tsvector`` values with GIN indexes (``mp_search_fts_pg``), refilled
    after each sync; prefix queries with ``:*``. Facet counts group matching ids by facet combination
    without reading the wide rows, and ranking goes tier by tier as on SQLite (see :func:`_tiers`)."""

    def refresh(self, conn: Connection) -> None:
        conn.execute(sa.delete(pg_fts))
        conn.execute(sa.text(_PG_FILL))
        conn.execute(sa.text("ANALYZE mp_search_fts_pg"))

    @staticmethod
    def query(tokens: list[str]) -> sa.ColumnElement[Any]:
        return sa.func.to_tsquery("simple", " & ".join(f"{t}:*" for t in tokens))

    def matching(self, tokens: list[str]) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
        query = self.query(tokens)
        source = search_docs.join(pg_fts, pg_fts.c.id == search_docs.c.id)
        weights: sa.ColumnElement[Any] = sa.literal_column(_PG_WEIGHTS)
        return source, pg_fts.c.tsv.bool_op("@@")(query), sa.func.ts_rank(weights, pg_fts.c.tsv, query, 1)


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
    if tokens and isinstance(dialect, PostgresSearch):
        return postgres_search(conn, text, tokens, filters, limit, offset)
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

    boost = sa.case(*((search_docs.c.kind == kind.value, factor) for kind, factor in _KIND_BOOST.items()), else_=1.0)
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


class _GroupCache:
    """Match groups (facet combination, count, a row id) per index version and query words, shared by the
    searches that differ only in filters, offset or limit (clicking facets, paging). Entries expire after
    ``ttl`` seconds as well, bounding staleness where the version stamp could miss a change."""

    def __init__(self, size: int = 512, ttl: float = 30.0) -> None:
        self.size, self.ttl = size, ttl
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, list[Any]]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> list[Any] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: tuple[Any, ...], groups: list[Any]) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, groups)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_GROUPS = _GroupCache()


def index_version(conn: Connection) -> str:
    """A stamp that changes when the search index is rebuilt: PostgreSQL's transaction id of the index rows;
    on SQLite, the FTS5 structure record."""
    if conn.dialect.name == "postgresql":
        found = conn.execute(sa.text("SELECT xmin::text FROM mp_search_fts_pg ORDER BY id LIMIT 1")).scalar()
    else:
        found = conn.execute(sa.text("SELECT hex(block) FROM mp_search_fts_data WHERE id = 10")).scalar()
    return f"{conn.engine.url}|{found}"


def _groups(conn: Connection, tokens: list[str], select: Any) -> list[Any]:
    key = (index_version(conn), tuple(tokens))
    found = _GROUPS.get(key)
    if found is None:
        found = [tuple(row) for row in conn.execute(select).all()]
        _GROUPS.put(key, found)
    return found


def _grouped(
    conn: Connection, groups: list[Any], filters: Mapping[str, Iterable[str]]
) -> tuple[int, dict[str, dict[str, int]], list[int], dict[str, list[int]], bool]:
    """Facet counts from (combination, count, a row id of it) groups: the total, the counts, the allowed
    combinations, the allowed combinations per kind, and whether any filter applies."""
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
    return total, facets, allowed, by_kind, bool(wanted)


def _boost(combo: sa.ColumnElement[int], by_kind: Mapping[str, list[int]]) -> sa.ColumnElement[float]:
    whens = [(combo.in_(by_kind[k.value]), factor) for k, factor in _KIND_BOOST.items() if by_kind.get(k.value)]
    return sa.case(*whens, else_=1.0) if whens else sa.literal(1.0)


def _ranked(
    conn: Connection, source: sa.FromClause, rowid: sa.ColumnElement[int], relevance: sa.ColumnElement[float],
    tiers: Sequence[Sequence[sa.ColumnElement[bool]]], limit: int, offset: int,
) -> list[tuple[int, float]]:  # fmt: skip
    """The page's (row id, score), tier by tier: a later tier is read only when earlier ones run out."""
    ranked: list[tuple[int, float]] = []
    skip, remaining = offset, limit
    score = relevance.label("score")
    for tier, where in enumerate(tiers):
        if remaining <= 0:
            break
        if skip:
            size = int(conn.execute(sa.select(sa.func.count()).select_from(source).where(*where)).scalar_one())
            if size <= skip:
                skip -= size
                continue
        page = (sa.select(rowid, score).select_from(source).where(*where)
                .order_by(sa.desc("score"), rowid).limit(remaining).offset(skip))  # fmt: skip
        bonus = 1000.0 * (len(tiers) - 1 - tier)  # keeps scores ordered across tiers
        found = [(int(row_id), float(value) + bonus) for row_id, value in conn.execute(page).tuples()]
        ranked.extend(found)
        remaining -= len(found)
        skip = 0
    return ranked


def _page(conn: Connection, text: str, tokens: list[str], total: int, facets: Mapping[str, Mapping[str, int]],
          ranked: list[tuple[int, float]]) -> SearchResults:  # fmt: skip
    chosen = sa.select(search_docs).where(search_docs.c.id.in_([i for i, _ in ranked]))
    rows = {row.id: row for row in conn.execute(chosen)}
    hits = tuple(_hit(rows[i], tokens, score) for i, score in ranked if i in rows)
    return SearchResults(text, total, hits, _ordered(facets))


def sqlite_search(
    conn: Connection, text: str, tokens: list[str], filters: Mapping[str, Iterable[str]], limit: int, offset: int
) -> SearchResults:
    """Exact facet counts by grouping matching rowids by their facet combination (no join); filters become
    a condition on that combination; ranking runs tier by tier (see :func:`_tiers`) inside the FTS index,
    and only the page's rows are read from ``mp_search_docs``."""
    grouping = sa.select(_COMBO.label("combo"), sa.func.count(), sa.func.min(_RID)).select_from(fts)
    matched: Any = grouping.where(_FTS.match(_fts_query(tokens))).group_by(sa.literal_column("combo"))
    groups = _groups(conn, tokens, matched)
    if not groups:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})
    total, facets, allowed, by_kind, filtered = _grouped(conn, groups, filters)
    if total == 0:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})
    relevance = -sa.func.bm25(_FTS, 10.0, 4.0, 2.0, 1.0) * _boost(_COMBO, by_kind)
    restrict = [_COMBO.in_(allowed)] if filtered else []
    tiers = [[_FTS.match(query), *restrict] for query in _tiers(tokens)]
    return _page(conn, text, tokens, total, facets, _ranked(conn, fts, _RID, relevance, tiers, limit, offset))


def postgres_search(
    conn: Connection, text: str, tokens: list[str], filters: Mapping[str, Iterable[str]], limit: int, offset: int
) -> SearchResults:
    """As :func:`sqlite_search`, over ``mp_search_fts_pg``: facet counts group matching ids by combination;
    the tiers are name matches (``tsv_name``), then name-or-keyword matches (``tsv_key``), then the rest."""
    query = PostgresSearch.query(tokens)
    match = pg_fts.c.tsv.bool_op("@@")(query)
    groups = _groups(
        conn, tokens,
        sa.select(pg_fts.c.combo, sa.func.count(), sa.func.min(pg_fts.c.id)).where(match).group_by(pg_fts.c.combo),
    )  # fmt: skip
    if not groups:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})
    total, facets, allowed, by_kind, filtered = _grouped(conn, groups, filters)
    if total == 0:
        return SearchResults(text, 0, (), {f: {} for f in FACETS})
    weights: sa.ColumnElement[Any] = sa.literal_column(_PG_WEIGHTS)
    relevance = sa.func.ts_rank(weights, pg_fts.c.tsv, query, 1) * _boost(pg_fts.c.combo, by_kind)
    restrict = [pg_fts.c.combo.in_(allowed)] if filtered else []
    in_name, in_key = pg_fts.c.tsv_name.bool_op("@@")(query), pg_fts.c.tsv_key.bool_op("@@")(query)
    if sum(int(count) for _, count, _ in groups) <= _PG_ONE_PASS:
        # Few matches: one index scan ranks them all, the tier (name, keyword, other) leading the score.
        tier = sa.case((in_name, 2000.0), (in_key, 1000.0), else_=0.0)
        tiers = [[match, *restrict]]
        relevance = relevance + tier
    else:
        tiers = [[in_name, *restrict], [in_key, sa.not_(in_name), *restrict], [match, sa.not_(in_key), *restrict]]
    return _page(conn, text, tokens, total, facets, _ranked(conn, pg_fts, pg_fts.c.id, relevance, tiers, limit, offset))
