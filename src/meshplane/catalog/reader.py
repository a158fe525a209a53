"""The read side of the catalog store. Lists are ordered (by address, or newest first for history)."""

from __future__ import annotations

import functools
import hmac
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from meshplane.catalog import convert, health, schema, search
from meshplane.catalog.database import Database
from meshplane.catalog.health import HealthFacts, ProductSummary
from meshplane.catalog.records import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    AuditEvent,
    CheckResult,
    ColumnLineageEdge,
    ColumnRecord,
    DomainRecord,
    GlossaryTerm,
    Grant,
    LineageEdge,
    PolicyResult,
    PortRecord,
    PortUsage,
    ProductRecord,
    ProfileRecord,
    QueryLogEntry,
    RunRecord,
    RunStatus,
    SearchResults,
    SloEvaluation,
    TeamMember,
    TeamRecord,
    VersionRecord,
)
from meshplane.catalog.tokens import hash_secret, split_token

__all__ = ["CatalogReader"]

Where = list[sa.ColumnElement[bool]]


def _eq(conditions: Where, column: sa.ColumnElement[object], value: object) -> None:
    if value is not None:
        conditions.append(column == value)


class CatalogReader:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._search = search.dialect_for(db.dialect)

    # --- the mesh's specs ------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        """A value of the catalog's key/value settings (e.g. ``mesh_state``, written by sync_mesh)."""
        t = schema.settings
        with self._db.read() as conn:
            value = conn.execute(sa.select(t.c.value).where(t.c.key == key)).scalar_one_or_none()
        return None if value is None else str(value)

    def settings(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with ``prefix``."""
        t = schema.settings
        with self._db.read() as conn:
            rows = conn.execute(sa.select(t.c.key, t.c.value).where(t.c.key.startswith(prefix, autoescape=True)))
            return {str(k): str(v) for k, v in rows}

    def domains(self) -> list[DomainRecord]:
        d = schema.domains
        with self._db.read() as conn:
            rows = conn.execute(sa.select(d).order_by(d.c.name)).mappings()
            return [DomainRecord(r["name"], r["title"], r["description"], r["owner_team"]) for r in rows]

    def domain(self, name: str) -> DomainRecord | None:
        return next((d for d in self.domains() if d.name == name), None)

    def products(
        self, *, domain: str | None = None, owner_team: str | None = None, status: str | None = None
    ) -> list[ProductRecord]:
        """Products with their ports and columns."""
        p = schema.products
        where: Where = []
        _eq(where, p.c.domain, domain)
        _eq(where, p.c.owner_team, owner_team)
        _eq(where, p.c.status, status)
        return self._products(where)

    def product(self, address: str) -> ProductRecord | None:
        found = self._products([schema.products.c.address == address])
        return found[0] if found else None

    def _products(self, where: Where) -> list[ProductRecord]:
        p, po = schema.products, schema.ports
        with self._db.read() as conn:
            rows = conn.execute(sa.select(p).where(*where).order_by(p.c.address)).mappings().all()
            if not rows:
                return []
            chosen = sa.select(p.c.address).where(*where).scalar_subquery()
            ports = self._ports_where(conn, [po.c.product.in_(chosen)])
        by_product: dict[str, list[PortRecord]] = defaultdict(list)
        for port in ports:
            by_product[port.product_address].append(port)
        return [
            ProductRecord(
                address=r["address"],
                version=r["version"],
                status=r["status"],
                type=r["type"],
                owner_team=r["owner_team"],
                title=r["title"],
                description=r["description"],
                tags=tuple(r["tags"]),
                access_level=r["access_level"],
                ports=tuple(by_product[r["address"]]),
            )
            for r in rows
        ]

    def ports(self, *, product: str | None = None, prefix: str | None = None) -> list[PortRecord]:
        """Ports with their columns, in address order; ``prefix``: only those whose address starts with it
        (``"podcasts."`` is one domain's)."""
        where: Where = []
        _eq(where, schema.ports.c.product, product)
        if prefix:
            where.append(schema.ports.c.address.startswith(prefix, autoescape=True))
        with self._db.read() as conn:
            return self._ports_where(conn, where)

    def port_counts(self) -> dict[str, tuple[int, int]]:
        """Per domain: how many products and output ports the catalog holds (one grouped read)."""
        p, po = schema.products, schema.ports
        query = (
            sa.select(p.c.domain, sa.func.count(sa.distinct(p.c.address)), sa.func.count(po.c.address))
            .select_from(p.outerjoin(po, po.c.product == p.c.address))
            .group_by(p.c.domain)
        )
        with self._db.read() as conn:
            return {str(d): (int(products), int(ports)) for d, products, ports in conn.execute(query)}

    def port_contracts(self, addresses: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """The published contract of each of ``addresses`` the catalog holds, in one query (no columns read)."""
        po = schema.ports
        wanted = sorted(set(addresses))
        if not wanted:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(sa.select(po.c.address, po.c.contract).where(po.c.address.in_(wanted)))
            return {str(address): dict(contract or {}) for address, contract in rows}

    def port(self, address: str) -> PortRecord | None:
        with self._db.read() as conn:
            found = self._ports_where(conn, [schema.ports.c.address == address])
        return found[0] if found else None

    def _ports_where(self, conn: sa.Connection, where: Where) -> list[PortRecord]:
        po, c = schema.ports, schema.columns
        rows = conn.execute(sa.select(po).where(*where).order_by(po.c.address)).mappings().all()
        if not rows:
            return []
        chosen = sa.select(po.c.address).where(*where).scalar_subquery()
        cols: dict[str, list[ColumnRecord]] = defaultdict(list)
        for r in conn.execute(sa.select(c).where(c.c.port.in_(chosen)).order_by(c.c.port, c.c.position)).mappings():
            cols[r["port"]].append(
                ColumnRecord(
                    name=r["name"],
                    logical_type=r["logical_type"],
                    physical_type=r["physical_type"],
                    classification=r["classification"],
                    description=r["description"],
                    semantic_type=r["semantic_type"],
                    required=bool(r["required"]),
                    primary_key=bool(r["primary_key"]),
                )
            )
        return [
            PortRecord(
                address=r["address"],
                version=r["version"],
                access_level=r["access_level"],
                description=r["description"],
                status=r["status"],
                contract=dict(r["contract"]),
                columns=tuple(cols[r["address"]]),
            )
            for r in rows
        ]

    def glossary(self) -> list[GlossaryTerm]:
        g = schema.glossary_terms
        with self._db.read() as conn:
            rows = conn.execute(sa.select(g).order_by(g.c.name)).mappings()
            return [
                GlossaryTerm(r["name"], r["title"], r["description"], r["logical_type"], r["classification"])
                for r in rows
            ]

    def teams(self) -> list[TeamRecord]:
        t, m = schema.teams, schema.team_members
        with self._db.read() as conn:
            members: dict[str, list[TeamMember]] = defaultdict(list)
            for team, username, role in conn.execute(
                sa.select(m.c.team, m.c.username, m.c.role).order_by(m.c.team, m.c.username)
            ):
                members[team].append(TeamMember(username, role))
            rows = conn.execute(sa.select(t.c.name, t.c.title).order_by(t.c.name)).all()
        return [TeamRecord(name, title, tuple(members[name])) for name, title in rows]

    def teams_of(self, username: str) -> list[str]:
        m = schema.team_members
        with self._db.read() as conn:
            query = sa.select(m.c.team).where(m.c.username == username).order_by(m.c.team)
            return list(conn.execute(query).scalars())

    def lineage_edges(self, *, upstream: str | None = None, downstream: str | None = None) -> list[LineageEdge]:
        e = schema.lineage_edges
        where: Where = []
        _eq(where, e.c.upstream, upstream)
        _eq(where, e.c.downstream, downstream)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(e).where(*where).order_by(e.c.upstream, e.c.downstream))
            return [LineageEdge(r.upstream, r.downstream) for r in rows]

    def column_lineage(self, *, port: str | None = None) -> list[ColumnLineageEdge]:
        """Column edges, all or those touching ``port`` on either side."""
        e = schema.column_lineage
        where: Where = []
        if port is not None:
            where.append(sa.or_(e.c.upstream_port == port, e.c.downstream_port == port))
        with self._db.read() as conn:
            rows = conn.execute(sa.select(e).where(*where).order_by(*e.primary_key.columns))
            return [
                ColumnLineageEdge(r.upstream_port, r.upstream_column, r.downstream_port, r.downstream_column)
                for r in rows
            ]

    def versions(self, address: str) -> list[VersionRecord]:
        """Every version of a product or port seen by sync_mesh, oldest first."""
        v = schema.versions
        with self._db.read() as conn:
            rows = conn.execute(sa.select(v).where(v.c.address == address).order_by(v.c.recorded_at, v.c.version))
            return [VersionRecord(r.address, r.version, r.recorded_at, tuple(r.changes)) for r in rows]

    # --- history -----------------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRecord | None:
        r = schema.runs
        with self._db.read() as conn:
            row = conn.execute(sa.select(r).where(r.c.run_id == run_id)).mappings().one_or_none()
        return convert.run(row) if row is not None else None

    def runs(
        self,
        product: str | None = None,
        *,
        port: str | None = None,
        status: RunStatus | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Newest first."""
        r = schema.runs
        where: Where = []
        _eq(where, r.c.product, product)
        _eq(where, r.c.port, port)
        _eq(where, r.c.status, status.value if status else None)
        if since is not None:
            where.append(r.c.started_at >= since)
        query = sa.select(r).where(*where).order_by(r.c.started_at.desc(), r.c.run_id).limit(limit)
        with self._db.read() as conn:
            return [convert.run(row) for row in conn.execute(query).mappings()]

    def runs_of(
        self, products: Iterable[str] | None = None, *, per_product: int = 20, status: RunStatus | None = None
    ) -> dict[str, list[RunRecord]]:
        """The newest ``per_product`` runs (with ``status``, if given) of each product (of ``products``, or of
        all), newest first, in one query."""
        r = schema.runs
        rank = sa.func.row_number().over(partition_by=r.c.product, order_by=(r.c.started_at.desc(), r.c.run_id))
        inner = sa.select(r, rank.label("mp_rank"))
        if status is not None:
            inner = inner.where(r.c.status == status.value)
        wanted = None if products is None else sorted(set(products))
        if wanted is not None:
            if not wanted:
                return {}
            inner = inner.where(r.c.product.in_(wanted))
        sub = inner.subquery()
        query = sa.select(*(sub.c[col.name] for col in r.columns)).where(sub.c.mp_rank <= per_product).order_by(
            sub.c.product, sub.c.mp_rank)  # fmt: skip
        found: dict[str, list[RunRecord]] = {p: [] for p in wanted or ()}
        with self._db.read() as conn:
            for row in conn.execute(query).mappings():
                found.setdefault(row["product"], []).append(convert.run(row))
        return found

    def product_summaries(self) -> list[ProductSummary]:
        """Every product's address, domain, title, access level and port count (no contracts read)."""
        with self._db.read() as conn:
            return health.product_summaries(conn)

    def health_facts(self) -> dict[str, HealthFacts]:
        """Per product: its newest finished run's status, failed checks of its newest success and breached
        SLO evaluations, aggregated in SQL (products with neither runs nor evaluations are left out)."""
        with self._db.read() as conn:
            return health.health_facts(conn)

    def failed_checks_of(self, run_ids: Iterable[str]) -> dict[str, int]:
        """Failed check results per run, for many runs in one query (runs without failures are left out)."""
        c = schema.check_results
        wanted = sorted(set(run_ids))
        if not wanted:
            return {}
        query = (
            sa.select(c.c.run_id, sa.func.count())
            .where(c.c.run_id.in_(wanted), c.c.passed.is_(False))
            .group_by(c.c.run_id)
        )
        with self._db.read() as conn:
            return {run_id: int(n) for run_id, n in conn.execute(query).tuples()}

    def check_results(
        self, *, run_id: str | None = None, port: str | None = None, limit: int = 1000,
        ports: Iterable[str] | None = None,
    ) -> list[CheckResult]:  # fmt: skip
        """In recording order for one run; newest first across runs. ``ports``: results of any of them."""
        c = schema.check_results
        where: Where = []
        _eq(where, c.c.run_id, run_id)
        _eq(where, c.c.port, port)
        if ports is not None:
            where.append(c.c.port.in_(sorted(set(ports))))
        order = c.c.id if run_id is not None else c.c.id.desc()
        with self._db.read() as conn:
            rows = conn.execute(sa.select(c).where(*where).order_by(order).limit(limit)).mappings()
            return [convert.check_result(row) for row in rows]

    def profiles(self, port: str, *, limit: int = 200, since: datetime | None = None) -> list[ProfileRecord]:
        """A port's profiles, newest first."""
        f = schema.profiles
        where: Where = [f.c.port == port]
        if since is not None:
            where.append(f.c.profiled_at >= since)
        query = sa.select(f).where(*where).order_by(f.c.profiled_at.desc(), f.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            return [convert.profile(row) for row in conn.execute(query).mappings()]

    def profile_times(self, port: str, *, limit: int = 200) -> list[datetime]:
        """When a port's newest ``limit`` profiles were taken, newest first: no profile's columns are read."""
        f = schema.profiles
        query = sa.select(f.c.profiled_at).where(f.c.port == port).order_by(f.c.profiled_at.desc(), f.c.id.desc())
        with self._db.read() as conn:
            return [row[0] for row in conn.execute(query.limit(limit))]

    def profile_history(self, ports: Iterable[str], *, per_port: int = 120) -> dict[str, list[ProfileRecord]]:
        """The newest ``per_port`` profiles of each port (newest first), in one query."""
        f = schema.profiles
        wanted = sorted(set(ports))
        if not wanted:
            return {}
        rank = sa.func.row_number().over(partition_by=f.c.port, order_by=(f.c.profiled_at.desc(), f.c.id.desc()))
        inner = sa.select(f, rank.label("mp_rank")).where(f.c.port.in_(wanted)).subquery()
        query = sa.select(*(inner.c[col.name] for col in f.columns)).where(inner.c.mp_rank <= per_port).order_by(
            inner.c.port, inner.c.mp_rank)  # fmt: skip
        found: dict[str, list[ProfileRecord]] = {p: [] for p in wanted}
        with self._db.read() as conn:
            for row in conn.execute(query).mappings():
                found[row["port"]].append(convert.profile(row))
        return found

    def compliance_trend(self, *, limit: int = 30) -> list[tuple[str, datetime, dict[str, int]]]:
        """The newest ``limit`` policy evaluations, oldest first: (evaluation, when, {outcome: results})."""
        p = schema.policy_results
        latest = (
            sa.select(p.c.evaluation_id, sa.func.max(p.c.evaluated_at).label("at"))
            .group_by(p.c.evaluation_id)
            .order_by(sa.func.max(p.c.evaluated_at).desc())
            .limit(limit)
            .subquery()
        )
        query = (
            sa.select(latest.c.evaluation_id, latest.c.at, p.c.outcome, sa.func.count())
            .join(p, p.c.evaluation_id == latest.c.evaluation_id)
            .group_by(latest.c.evaluation_id, latest.c.at, p.c.outcome)
        )
        found: dict[str, tuple[datetime, dict[str, int]]] = {}
        with self._db.read() as conn:
            for evaluation, at, outcome, count in conn.execute(query).tuples():
                found.setdefault(evaluation, (at, {}))[1][outcome] = int(count)
        return sorted(((e, at, counts) for e, (at, counts) in found.items()), key=lambda item: item[1])

    def policy_results(
        self, *, evaluation_id: str | None = None, subject: str | None = None, limit: int = 1000
    ) -> list[PolicyResult]:
        p = schema.policy_results
        where: Where = []
        _eq(where, p.c.evaluation_id, evaluation_id)
        _eq(where, p.c.subject, subject)
        query = sa.select(p).where(*where).order_by(p.c.evaluated_at.desc(), p.c.id).limit(limit)
        with self._db.read() as conn:
            return [convert.policy_result(row) for row in conn.execute(query).mappings()]

    def latest_policy_evaluation(self) -> str | None:
        p = schema.policy_results
        query = sa.select(p.c.evaluation_id).order_by(p.c.evaluated_at.desc(), p.c.id.desc()).limit(1)
        with self._db.read() as conn:
            return conn.execute(query).scalar_one_or_none()

    def slo_evaluations_of(self, ports: Iterable[str], *, per_port: int = 10) -> dict[str, list[SloEvaluation]]:
        """The newest ``per_port`` evaluations of each port (newest first), in one query."""
        s = schema.slo_evaluations
        wanted = sorted(set(ports))
        if not wanted:
            return {}
        rank = sa.func.row_number().over(partition_by=s.c.port, order_by=(s.c.evaluated_at.desc(), s.c.id.desc()))
        inner = sa.select(s, rank.label("mp_rank")).where(s.c.port.in_(wanted)).subquery()
        query = sa.select(*(inner.c[col.name] for col in s.columns)).where(inner.c.mp_rank <= per_port).order_by(
            inner.c.port, inner.c.mp_rank)  # fmt: skip
        found: dict[str, list[SloEvaluation]] = {p: [] for p in wanted}
        with self._db.read() as conn:
            for row in conn.execute(query).mappings():
                found[row["port"]].append(convert.slo_evaluation(row))
        return found

    def versions_of(self, addresses: Iterable[str]) -> dict[str, list[VersionRecord]]:
        """:meth:`versions` of several products or ports in one query."""
        v = schema.versions
        wanted = sorted(set(addresses))
        found: dict[str, list[VersionRecord]] = {a: [] for a in wanted}
        query = sa.select(v).where(v.c.address.in_(wanted)).order_by(v.c.address, v.c.recorded_at, v.c.version)
        with self._db.read() as conn:
            for r in conn.execute(query):
                found[r.address].append(VersionRecord(r.address, r.version, r.recorded_at, tuple(r.changes)))
        return found

    def slo_evaluations(self, *, port: str | None = None, limit: int = 1000) -> list[SloEvaluation]:
        """Newest first."""
        s = schema.slo_evaluations
        where: Where = []
        _eq(where, s.c.port, port)
        query = sa.select(s).where(*where).order_by(s.c.evaluated_at.desc(), s.c.id.desc()).limit(limit)
        with self._db.read() as conn:
            return [convert.slo_evaluation(row) for row in conn.execute(query).mappings()]

    # --- access, audit, tokens, usage ----------------------------------------------------------------

    def access_request(self, request_id: str) -> AccessRequest | None:
        found = self._requests([schema.access_requests.c.id == request_id])
        return found[0] if found else None

    def access_requests(
        self,
        *,
        requester: str | None = None,
        ports: Iterable[str] | None = None,
        status: AccessRequestStatus | None = None,
        product: str | None = None,
    ) -> list[AccessRequest]:
        """Newest first; ``ports`` narrows to requests for any of them (an owner's inbox); ``product`` to the
        agreement requests of one consuming product."""
        r = schema.access_requests
        where: Where = []
        _eq(where, r.c.requester, requester)
        _eq(where, r.c.product, product)
        _eq(where, r.c.status, status.value if status else None)
        if ports is not None:
            where.append(r.c.port.in_(sorted(set(ports))))
        return self._requests(where)

    def _requests(self, where: Where) -> list[AccessRequest]:
        r = schema.access_requests
        with self._db.read() as conn:
            rows = conn.execute(sa.select(r).where(*where).order_by(r.c.created_at.desc(), r.c.id)).mappings()
            return [convert.access_request(row) for row in rows]

    def grants(
        self,
        *,
        grantee: str | None = None,
        port: str | None = None,
        active_at: datetime | None = None,
        include_inactive: bool = False,
    ) -> list[Grant]:
        """Grants in force at ``active_at`` (default now): not revoked and not expired."""
        g = schema.grants
        where: Where = []
        _eq(where, g.c.grantee, grantee)
        _eq(where, g.c.port, port)
        if not include_inactive:
            at = active_at or convert.now()
            where.append(sa.or_(g.c.revoked_at.is_(None), g.c.revoked_at > at))
            where.append(sa.or_(g.c.expires_at.is_(None), g.c.expires_at > at))
        with self._db.read() as conn:
            rows = conn.execute(sa.select(g).where(*where).order_by(g.c.granted_at, g.c.id)).mappings()
            return [convert.grant(row) for row in rows]

    def audit_log(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Newest first."""
        a = schema.audit_log
        where: Where = []
        _eq(where, a.c.actor, actor)
        _eq(where, a.c.action, action)
        _eq(where, a.c.subject, subject)
        if since is not None:
            where.append(a.c.at >= since)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(a).where(*where).order_by(a.c.id.desc()).limit(limit)).mappings()
            return [convert.audit_event(row) for row in rows]

    def latest_audit_events(self, action: str, subjects: Iterable[str] | None = None) -> dict[str, AuditEvent]:
        """The newest event of ``action`` per subject (of ``subjects``, or of every subject), in one query."""
        a = schema.audit_log
        newest = sa.select(sa.func.max(a.c.id)).where(a.c.action == action)
        if subjects is not None:
            wanted = sorted(set(subjects))
            if not wanted:
                return {}
            newest = newest.where(a.c.subject.in_(wanted))
        query = sa.select(a).where(a.c.id.in_(newest.group_by(a.c.subject).scalar_subquery()))
        with self._db.read() as conn:
            return {row["subject"]: convert.audit_event(row) for row in conn.execute(query).mappings()}

    def audit_stamp(self, actions: Iterable[str] | None = None) -> tuple[int | None, ...]:
        """The newest audit event's id, of each of ``actions`` (or of all): changes whenever such an event is
        appended (an index read each)."""
        a = schema.audit_log
        if actions is None:
            parts = [sa.select(sa.func.max(a.c.id)).scalar_subquery()]
        else:
            parts = [sa.select(sa.func.max(a.c.id)).where(a.c.action == act).scalar_subquery() for act in actions]
        with self._db.read() as conn:
            return tuple(conn.execute(sa.select(*parts)).one())

    def verify_token(self, token: str, *, at: datetime | None = None) -> str | None:
        """The username a token belongs to, or None if it is malformed, unknown, revoked or expired."""
        parts = split_token(token)
        if parts is None:
            return None
        token_id, secret = parts
        t = schema.api_tokens
        with self._db.read() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == token_id)).mappings().one_or_none()
        if row is None or not hmac.compare_digest(hash_secret(secret, row["salt"]), row["token_hash"]):
            return None
        when = at or convert.now()
        if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= when):
            return None
        return str(row["username"])

    def scram_verifiers(self, username: str, *, at: datetime | None = None) -> list[str]:
        """SCRAM-SHA-256 verifiers of ``username``'s tokens in force (neither revoked nor expired)."""
        t = schema.api_tokens
        when = at or convert.now()
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(t.c.scram_verifier, t.c.expires_at)
                .where(t.c.username == username, t.c.scram_verifier.is_not(None), t.c.revoked_at.is_(None))
                .order_by(t.c.created_at)
            ).all()  # fmt: skip
        return [str(r.scram_verifier) for r in rows if r.expires_at is None or r.expires_at > when]

    def tokens(self, *, username: str | None = None) -> list[ApiToken]:
        t = schema.api_tokens
        where: Where = []
        _eq(where, t.c.username, username)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(t).where(*where).order_by(t.c.created_at, t.c.id)).mappings()
            return [convert.api_token(row) for row in rows]

    def query_log(
        self,
        *,
        username: str | None = None,
        port: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[QueryLogEntry]:
        """Newest first."""
        q, qp = schema.query_log, schema.query_log_ports
        where: Where = []
        _eq(where, q.c.username, username)
        if port is not None:
            where.append(q.c.id.in_(sa.select(qp.c.query_id).where(qp.c.port == port)))
        if since is not None:
            where.append(q.c.at >= since)
        with self._db.read() as conn:
            rows = conn.execute(sa.select(q).where(*where).order_by(q.c.id.desc()).limit(limit)).mappings().all()
            ports: dict[int, list[str]] = defaultdict(list)
            ids = [row["id"] for row in rows]
            for query_id, name in conn.execute(
                sa.select(qp.c.query_id, qp.c.port).where(qp.c.query_id.in_(ids)).order_by(qp.c.port)
            ):
                ports[query_id].append(name)
        return [convert.query_entry(row, tuple(ports[row["id"]])) for row in rows]

    def port_usage(self, *, since: datetime | None = None, ports: Iterable[str] | None = None) -> list[PortUsage]:
        """Allowed queries per port: count, distinct users, rows returned, last use; busiest first."""
        q, qp = schema.query_log, schema.query_log_ports
        where: Where = [q.c.decision == "allowed"]
        if since is not None:
            where.append(q.c.at >= since)
        if ports is not None:
            where.append(qp.c.port.in_(sorted(set(ports))))
        query = (
            sa.select(
                qp.c.port,
                sa.func.count().label("queries"),
                sa.func.count(sa.distinct(q.c.username)).label("users"),
                sa.func.coalesce(sa.func.sum(q.c.rows), 0).label("rows"),
                sa.func.max(q.c.at).label("last"),
            )
            .select_from(qp.join(q, q.c.id == qp.c.query_id))
            .where(*where)
            .group_by(qp.c.port)
            .order_by(sa.desc("queries"), qp.c.port)
        )
        with self._db.read() as conn:
            return [PortUsage(r.port, int(r.queries), int(r.users), int(r.rows), r.last) for r in conn.execute(query)]

    # --- search --------------------------------------------------------------------------------------

    def history_version(self) -> tuple[object, ...]:
        """A cheap stamp (one round trip over primary keys and indexes) that changes when runs, check
        results, SLO evaluations or policy results are recorded, or a run finishes."""
        r, c, s, p = schema.runs, schema.check_results, schema.slo_evaluations, schema.policy_results
        parts = (
            sa.select(sa.func.count()).select_from(r).scalar_subquery(),
            sa.select(sa.func.max(r.c.started_at)).scalar_subquery(),
            sa.select(sa.func.count()).select_from(r).where(r.c.status == RunStatus.RUNNING.value).scalar_subquery(),
            sa.select(sa.func.max(c.c.id)).scalar_subquery(),
            sa.select(sa.func.max(s.c.id)).scalar_subquery(),
            sa.select(sa.func.max(p.c.id)).scalar_subquery(),
            sa.select(sa.func.max(schema.profiles.c.id)).scalar_subquery(),
        )
        with self._db.read() as conn:
            return tuple(conn.execute(sa.select(*parts)).one())

    def access_version(self, grantee: str, subjects: Iterable[str]) -> tuple[object, ...]:
        """A cheap stamp (one round trip over indexes) for caching access decisions of ``grantee``.

        It changes when a grant of ``grantee`` is created or revoked (the writer's only changes to grants),
        and when an audit event is recorded about any of ``subjects`` (products: their ownership baselines
        and the approvals of their spec changes). A subject without any audit event has ``None`` in the stamp.
        """
        wanted = sorted(set(subjects))
        grants, events = _access_stamp_statements()
        with self._db.read() as conn:
            stamp = tuple(conn.execute(grants, {"grantee": grantee}).one())
            found: dict[str, object] = dict(conn.execute(events, {"subjects": wanted}).tuples().all()) if wanted else {}
        return (*stamp, tuple((subject, found.get(subject)) for subject in wanted))

    def search_version(self) -> str:
        """A stamp that changes whenever the search index is rebuilt (each sync): a cache key for results."""
        with self._db.read() as conn:
            return search.index_version(conn)

    def search(
        self,
        text: str,
        *,
        filters: Mapping[str, Iterable[str]] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> SearchResults:
        """Ranked hits and facet counts (over every match, with ``filters`` applied).

        ``filters`` maps a facet (kind, domain, classification, status, access_level) to the values
        to keep. Every word matches as a prefix; all words must match. Empty text browses by facet.
        """
        with self._db.read() as conn:
            return search.search(conn, self._search, text, filters or {}, limit, offset)


@functools.cache
def _access_stamp_statements() -> tuple[sa.Executable, sa.Executable]:
    """:meth:`CatalogReader.access_version`'s two statements, built once: every governed query reads the stamp,
    and building the expressions cost more than running them."""
    g, a = schema.grants, schema.audit_log
    mine = sa.select(g).where(g.c.grantee == sa.bindparam("grantee")).subquery()
    grants = sa.select(
        sa.func.count(), sa.func.count(mine.c.revoked_at), sa.func.max(mine.c.granted_at),
        sa.func.max(mine.c.revoked_at), sa.func.min(mine.c.expires_at), sa.func.max(mine.c.expires_at),
    )  # fmt: skip
    subjects: sa.BindParameter[str] = sa.bindparam("subjects", expanding=True)
    events = sa.select(a.c.subject, sa.func.max(a.c.id)).where(a.c.subject.in_(subjects)).group_by(a.c.subject)
    return grants, events
