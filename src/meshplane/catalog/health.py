"""Mesh-wide summaries aggregated in SQL: each product's name card and the facts its health is decided from.

The home page summarises every product; reading 10,000 full product records (ports, contracts, columns) and
their last 20 runs each to count healthy ones took seconds. These read only what the summary shows, grouped
and ranked by the database (SQLite and PostgreSQL alike). The status itself is decided from the facts in one
place, :func:`meshplane.workspace.discovery.health_status`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog import schema
from meshplane.catalog.records import RunStatus

__all__ = ["SLO_WINDOW", "HealthFacts", "ProductSummary", "health_facts", "product_summaries"]

SLO_WINDOW = 4  # a product is failing while a breach is among a port's newest 4 SLO evaluations


@dataclass(frozen=True, slots=True)
class ProductSummary:
    address: str
    domain: str
    title: str
    access_level: str
    ports: int


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What a product's health is decided from."""

    last_status: RunStatus | None = None  # its newest finished run's (None: never built)
    failed_checks: int = 0  # failed check results of its newest successful run
    breached: int = 0  # breached evaluations among its ports' newest SLO_WINDOW


def product_summaries(conn: Connection) -> list[ProductSummary]:
    """Every product (by address) with its output-port count, in one grouped query; no contracts are read."""
    p, po = schema.products, schema.ports
    ports = sa.select(po.c.product, sa.func.count().label("n")).group_by(po.c.product).subquery()
    query = (
        sa.select(p.c.address, p.c.domain, p.c.title, p.c.access_level, sa.func.coalesce(ports.c.n, 0))
        .outerjoin(ports, ports.c.product == p.c.address)
        .order_by(p.c.address)
    )
    return [ProductSummary(a, d, t, level, int(n)) for a, d, t, level, n in conn.execute(query).tuples().all()]


def health_facts(conn: Connection) -> dict[str, HealthFacts]:
    """The facts of every product with a finished run or an SLO evaluation, in three ranked queries."""
    r, c, s = schema.runs, schema.check_results, schema.slo_evaluations
    newest = (r.c.started_at.desc(), r.c.run_id)  # the order of CatalogReader.runs_of
    rank = sa.func.row_number().over(partition_by=r.c.product, order_by=newest).label("mp_rank")
    finished = sa.select(r.c.product, r.c.status, r.c.run_id, rank)
    last = finished.where(r.c.status != RunStatus.RUNNING.value).subquery()
    success = finished.where(r.c.status == RunStatus.SUCCESS.value).subquery()
    statuses = {p: status for p, status in conn.execute(sa.select(last.c.product, last.c.status)
                                                        .where(last.c.mp_rank == 1)).tuples().all()}  # fmt: skip
    failed = {p: n for p, n in
        conn.execute(
            sa.select(success.c.product, sa.func.count(c.c.id))
            .join(c, sa.and_(c.c.run_id == success.c.run_id, c.c.passed.is_(False)))
            .where(success.c.mp_rank == 1)
            .group_by(success.c.product)
        ).tuples().all()
    }  # fmt: skip
    by_port = sa.func.row_number().over(partition_by=s.c.port, order_by=(s.c.evaluated_at.desc(), s.c.id.desc()))
    ranked = sa.select(s.c.port, s.c.status, by_port.label("mp_rank")).subquery()
    breached: dict[str, int] = defaultdict(int)
    query = (
        sa.select(ranked.c.port, sa.func.count())
        .where(ranked.c.mp_rank <= SLO_WINDOW, ranked.c.status == "breached")
        .group_by(ranked.c.port)
    )
    for port, n in conn.execute(query).tuples().all():
        breached[str(port).rsplit(".", 1)[0]] += int(n)
    return {
        product: HealthFacts(
            RunStatus(statuses[product]) if product in statuses else None,
            int(failed.get(product, 0)),
            breached.get(product, 0),
        )
        for product in {*statuses, *failed, *breached}
    }
