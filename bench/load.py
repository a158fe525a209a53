"""Load on the REST API: N concurrent clients for S seconds on loopback (search, product pages, small queries).

    .venv/bin/python bench/load.py [--products 10000] [--clients 50] [--seconds 60]

Builds a small copy of the media example, serves it with uvicorn in a child process, adds ``--products``
generated products to its catalog (bench/catalog_search.py's generator) so search runs against a big catalog,
then drives it and prints p50/p99 per route kind. ``tests/load`` runs the same driver on the plain example.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _common import footer, header

WORDS = ("listening", "listener email", "royalt", "payout", "episode", "show", "country", "film", "stream",
         "rights holder", "customer", "revenue", "churn", "ret", "cu", "schedule programme")  # fmt: skip
PRODUCTS = ("podcasts.listening_events", "podcasts.catalog", "films.streams", "royalties.creator_payouts",
            "tv.viewership", "podcasts.listening_insights")  # fmt: skip
QUERIES = (
    "SELECT count(*) AS n FROM podcasts.catalog.shows",
    "SELECT category, count(*) AS n FROM podcasts.catalog.shows GROUP BY ALL ORDER BY n DESC LIMIT 5",
    "SELECT title_id, sum(streams) AS s FROM films.streams.title_monthly GROUP BY 1 ORDER BY s DESC LIMIT 10",
)
MIX = (("search", 0.5), ("product", 0.3), ("query", 0.2))


@dataclass
class LoadResult:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = []
        total = sum(len(v) for v in self.latencies.values())
        rate = total / self.seconds
        lines.append(f"{total} requests in {self.seconds:.0f} s ({rate:.0f}/s), {len(self.errors)} errors")
        for kind, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
            lines.append(f"  {kind:8} n={len(ordered):6}  p50 {statistics.median(ordered):7.1f} ms  "
                         f"p99 {p99:7.1f} ms  max {ordered[-1]:7.1f} ms")  # fmt: skip
        for error in self.errors[:5]:
            lines.append(f"  error: {error}")
        return "\n".join(lines)


def run_load(url: str, token: str, *, clients: int = 50, seconds: float = 60.0, seed: int = 1) -> LoadResult:
    """``clients`` threads, each with its own HTTP connection, issuing the mix until time is up."""
    result = LoadResult(seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        local: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            while time.monotonic() < deadline:
                kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
                started = time.perf_counter()
                try:
                    if kind == "search":
                        response = http.get("/api/v1/search", params={"q": rng.choice(WORDS), "limit": 20})
                    elif kind == "product":
                        response = http.get(f"/api/v1/products/{rng.choice(PRODUCTS)}")
                    else:
                        response = http.post("/api/v1/query", json={"sql": rng.choice(QUERIES)})
                    if response.status_code != 200:
                        errors.append(f"{kind} {response.status_code} {response.text[:120]}")
                except httpx.HTTPError as error:
                    errors.append(f"{kind} {type(error).__name__}: {error}")
                local[kind].append((time.perf_counter() - started) * 1000)
        with lock:
            for kind, values in local.items():
                result.latencies[kind].extend(values)
            result.errors.extend(errors)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "tests"), str(root / "bench")]
    from catalog_search import snapshot as big_snapshot

    from meshplane.catalog import MeshSnapshot
    from meshplane.workspace import Mesh
    from meshplane.workspace.publishing import mesh_snapshot
    from server.helpers import copy_media, start_server, stop_server

    with tempfile.TemporaryDirectory() as tmp:
        media = copy_media(Path(tmp))
        process, url = start_server(media, dev=False, workers=args.workers)
        try:
            with Mesh.open(media) as mesh:
                if args.products:
                    own, extra = mesh_snapshot(mesh.graph), big_snapshot(args.products)
                    names = {d.name for d in own.domains} | {t.name for t in own.teams} | {g.name for g in own.glossary}
                    merged = MeshSnapshot(
                        domains=own.domains + tuple(d for d in extra.domains if d.name not in names),
                        products=own.products + extra.products,
                        glossary=own.glossary + tuple(g for g in extra.glossary if g.name not in names),
                        teams=own.teams + tuple(t for t in extra.teams if t.name not in names),
                        lineage=own.lineage,
                    )
                    mesh.platform.catalog.writer.sync_mesh(merged)
                token, _ = mesh.platform.catalog.writer.create_token("raj", name="load")
            print(f"{len(PRODUCTS)} media products + {args.products} generated in the catalog; "
                  f"{args.clients} clients for {args.seconds:.0f} s against {url}")  # fmt: skip
            print(run_load(url, token, clients=args.clients, seconds=args.seconds).report())
        finally:
            stop_server(process)


if __name__ == "__main__":
    _started = header("load: concurrent API clients against a live server")
    main()
    footer(_started)
