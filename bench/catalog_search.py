"""Catalog search latency with 10,000 products (about 190,000 searchable rows).

    .venv/bin/python bench/catalog_search.py [--products 10000] [--no-postgres]

Syncs a generated mesh into a fresh SQLite catalog (and a throw-away PostgreSQL database when
127.0.0.1:5432 answers), then times a mix of searches; prints p50/p99/max per backend. Target: p99 under
100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _common import footer, header

from meshplane.catalog import (
    CatalogStore,
    ColumnRecord,
    DomainRecord,
    GlossaryTerm,
    MeshSnapshot,
    PortRecord,
    ProductRecord,
    TeamRecord,
)

WORDS = [
    "customer",
    "order",
    "invoice",
    "payment",
    "listener",
    "episode",
    "show",
    "podcast",
    "revenue",
    "churn",
    "session",
    "device",
    "country",
    "region",
    "supplier",
    "part",
    "shipment",
    "inventory",
    "price",
    "discount",
    "tax",
    "refund",
    "campaign",
    "click",
    "impression",
    "audience",
    "royalty",
    "payout",
    "contract",
    "rights",
    "holder",
    "artist",
    "album",
    "track",
    "stream",
    "playlist",
    "subscription",
    "plan",
    "trial",
    "account",
    "address",
    "email",
    "phone",
    "consent",
    "marketing",
    "segment",
    "cohort",
    "retention",
    "forecast",
    "budget",
    "ledger",
    "journal",
    "asset",
    "liability",
    "margin",
    "cost",
    "vendor",
    "warehouse",
    "carrier",
    "route",
    "delivery",
    "return",
    "review",
    "rating",
]
DOMAINS = ("sales", "customers", "supply", "podcasts", "royalties", "marketing", "finance", "logistics",
           "music", "video", "ads", "identity", "billing", "support", "hr", "legal", "risk", "search",
           "mobile", "web")  # fmt: skip
CLASSES = (None, None, None, "public", "internal", "confidential", "pii", "restricted")
QUERIES = ("customer", "listener email", "revenue", "payout", "cu", "order invoice", "zebra",
           "podcast episode show", "churn forecast", "ret")  # fmt: skip
FILTERS = ({}, {"kind": ["product"]}, {"classification": ["pii"]}, {"domain": ["sales"], "status": ["active"]})


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def snapshot(n_products: int, seed: int = 7) -> MeshSnapshot:
    rng = random.Random(seed)
    products = []
    for i in range(n_products):
        domain = DOMAINS[i % len(DOMAINS)]
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{i}"
        address = f"{domain}.{name}"
        ports = tuple(
            PortRecord(
                address=f"{address}.{rng.choice(WORDS)}_{p}",
                version="1.0.0",
                access_level=rng.choice(("public", "restricted", "private")),
                description=sentence(rng, 12),
                columns=tuple(
                    ColumnRecord(
                        f"{rng.choice(WORDS)}_{c}",
                        "string",
                        classification=rng.choice(CLASSES),
                        description=sentence(rng, 8),
                    )
                    for c in range(8)
                ),
            )
            for p in range(2)
        )
        products.append(ProductRecord(
            address=address, version="1.0.0", status=rng.choice(("active", "active", "draft", "deprecated")),
            type="aggregate", owner_team=f"{domain}-team", title=name.replace("_", " ").title(),
            description=sentence(rng, 25), tags=tuple(rng.sample(WORDS, 3)), ports=ports,
        ))  # fmt: skip
    return MeshSnapshot(
        domains=tuple(DomainRecord(d, d.title(), sentence(rng, 10), f"{d}-team") for d in DOMAINS),
        products=tuple(products),
        glossary=tuple(GlossaryTerm(f"{w}_id", f"{w} identifier", sentence(rng, 10)) for w in WORDS),
        teams=tuple(TeamRecord(f"{d}-team", d.title()) for d in DOMAINS),
    )


def bench(label: str, url: str, snap: MeshSnapshot, rounds: int) -> None:
    with CatalogStore.open(url) as store:
        start = time.perf_counter()
        store.writer.sync_mesh(snap)
        sync_s = time.perf_counter() - start
        reader = store.reader
        for q in QUERIES:  # warm caches
            reader.search(q)
        times: list[float] = []
        per_query: dict[str, list[float]] = {}
        for _ in range(rounds):
            for q in QUERIES:
                for f in FILTERS:
                    t = time.perf_counter()
                    reader.search(q, filters=f, limit=20)
                    ms = (time.perf_counter() - t) * 1000
                    times.append(ms)
                    per_query.setdefault(q, []).append(ms)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"{label:10} sync {sync_s:6.2f} s | {len(times)} searches: p50 {statistics.median(times):6.1f} ms  "
              f"p99 {p99:6.1f} ms  max {times[-1]:6.1f} ms")  # fmt: skip
        worst = sorted(per_query.items(), key=lambda kv: -max(kv[1]))[:3]
        print("           slowest queries: " + ", ".join(f"{q!r} {max(v):.1f} ms" for q, v in worst))
        hits = reader.search("listener email").total
        print(f"           'listener email' matches {hits} rows")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    snap = snapshot(args.products)
    docs = sum(1 + sum(1 + len(p.columns) for p in prod.ports) for prod in snap.products) + len(snap.glossary)
    print(f"{args.products} products, {docs} searchable rows")
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite", f"sqlite:///{Path(tmp) / 'catalog.db'}", snap, args.rounds)
    if args.no_postgres:
        return
    try:
        import psycopg

        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure just means: no PostgreSQL here
        print(f"postgresql skipped: {exc}")
        return
    name = f"mp_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        bench("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", snap, args.rounds)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    _started = header("catalog search: SQLite and PostgreSQL")
    main()
    footer(_started)
