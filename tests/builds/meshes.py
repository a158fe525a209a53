"""A small mesh for the build tests: four products across two domains, written into a temporary folder.

```
podcasts.sources.listens (CSV files) ──▶ podcasts.listening_events (SQL) ──▶ podcasts.listener_stats (Python)
podcasts.sources.shows   (CSV file)  ──▶ podcasts.shows (SQL)               │
royalties.payouts (SQL) ◀── listening_events + shows ◀──────────────────────┘ (not stats)
```

``listening_events`` carries quality rules (unique event ids, ``seconds >= 0``) so a test can inject a bad row
and see the build fail. The Python transform obeys ``MESHPLANE_TEST_KILL=transform`` (SIGKILL itself) and
``MESHPLANE_TEST_SLEEP=<seconds>`` so subprocess tests can stop a build at a chosen point.
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["EVENTS", "SHOWS", "write_events", "write_mesh"]

EVENTS = 40  # rows written by default into data/listens/part-1.csv
SHOWS = 4

MESH_YAML = """\
name: shop
title: Test mesh
platform:
  engine: duckdb
  warehouse: .meshplane/warehouse
{catalog}{connections}teams:
  - name: podcasts-team
    members: [{{username: alice, role: owner}}]
  - name: royalties-team
    members: [{{username: rita, role: owner}}]
  - name: governance-guild
    members: [{{username: gina, role: lead}}]
governance_team: governance-guild
"""

DOMAIN = """\
name: {name}
title: {title}
description: The {name} domain.
owner: {name}-team
"""

SOURCE_LISTENS_LOCAL = """\
servers:
  - server: local
    type: local
    path: data/listens/*.csv
    format: csv
"""

SOURCE_LISTENS_PG = """\
servers:
  - server: hosting_db
    type: postgres
    host: 127.0.0.1
    port: 5432
    database: test
    schema: public
"""

SOURCE_LISTENS = """\
apiVersion: v3.1.0
kind: DataContract
id: podcasts.sources.listens
name: listens
version: 1.0.0
status: active
domain: podcasts
{servers}schema:
  - name: listens
    physicalType: table
    physicalName: {table}
    properties:
      - {{name: event_id, logicalType: string}}
      - {{name: listener_id, logicalType: string}}
      - {{name: show_id, logicalType: string}}
      - {{name: seconds, logicalType: integer}}
"""

SOURCE_SHOWS = """\
apiVersion: v3.1.0
kind: DataContract
id: podcasts.sources.shows
name: shows
version: 1.0.0
status: active
domain: podcasts
servers:
  - server: local
    type: local
    path: data/shows.csv
    format: csv
schema:
  - name: shows
    physicalType: table
    properties:
      - {name: show_id, logicalType: string}
      - {name: title, logicalType: string}
      - {name: rate, logicalType: number}
"""

PRODUCT = """\
apiVersion: v1.0.0
kind: DataProduct
id: {domain}.{name}
name: {name}
domain: {domain}
version: {version}
status: active
description:
  purpose: The {name} product.
team:
  name: {domain}-team
inputPorts:
{inputs}outputPorts:
  - name: {name}
    type: tables
    version: 1.0.0
    contractId: {domain}.{name}.{name}
{custom}"""

INPUT = """\
  - name: {name}
    version: ^1.0.0
    contractId: {contract}
"""

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: {domain}.{name}.{name}
name: {name}
version: 1.0.0
status: active
domain: {domain}
dataProduct: {name}
slaProperties:
  - {{property: latency, value: 1, unit: d}}
  - {{property: frequency, value: 1, unit: d}}
schema:
  - name: {name}
    physicalType: table
    properties:
{properties}{quality}"""

EVENTS_PROPERTIES = """\
      - {name: event_id, logicalType: string, required: true, unique: true}
      - {name: listener_id, logicalType: string, required: true}
      - {name: show_id, logicalType: string, required: true}
      - name: seconds
        logicalType: integer
        required: true
"""
EVENTS_QUALITY = """\
    quality:
      - {metric: rowCount, mustBeGreaterThan: 0}
      - type: sql
        description: Nobody listens for a negative time.
        query: SELECT count(*) FROM {object} WHERE seconds < 0
        mustBe: 0
"""

SHOWS_PROPERTIES = """\
      - {name: show_id, logicalType: string, required: true, unique: true}
      - {name: title, logicalType: string}
      - {name: rate, logicalType: number}
"""

STATS_PROPERTIES = """\
      - {name: listener_id, logicalType: string, required: true, unique: true}
      - {name: listens, logicalType: integer}
      - {name: seconds, logicalType: integer}
"""

PAYOUTS_PROPERTIES = """\
      - {name: show_id, logicalType: string, required: true, unique: true}
      - {name: title, logicalType: string}
      - {name: amount, logicalType: number}
"""

EVENTS_SQL = """\
SELECT CAST(event_id AS VARCHAR) AS event_id, CAST(listener_id AS VARCHAR) AS listener_id,
       CAST(show_id AS VARCHAR) AS show_id, CAST(seconds AS BIGINT) AS seconds
FROM listens
"""

SHOWS_SQL = """\
SELECT CAST(show_id AS VARCHAR) AS show_id, CAST(title AS VARCHAR) AS title, CAST(rate AS DOUBLE) AS rate
FROM shows
"""

PAYOUTS_SQL = """\
SELECT s.show_id, s.title, CAST(coalesce(sum(e.seconds), 0) * s.rate AS DOUBLE) AS amount
FROM shows AS s LEFT JOIN events AS e ON e.show_id = s.show_id
GROUP BY s.show_id, s.title, s.rate
"""

STATS_PY = '''\
"""Listens and seconds per listener; test hooks: MESHPLANE_TEST_KILL=transform, MESHPLANE_TEST_SLEEP=s."""

import os
import signal
import time

import pyarrow as pa


def transform(listening_events: pa.Table) -> pa.Table:
    if os.environ.get("MESHPLANE_TEST_SLEEP"):
        time.sleep(float(os.environ["MESHPLANE_TEST_SLEEP"]))
    if os.environ.get("MESHPLANE_TEST_KILL") == "transform":
        os.kill(os.getpid(), signal.SIGKILL)
    grouped = listening_events.group_by("listener_id").aggregate([("seconds", "count"), ("seconds", "sum")])
    return pa.table({
        "listener_id": grouped["listener_id"],
        "listens": grouped["seconds_count"].cast(pa.int64()),
        "seconds": grouped["seconds_sum"].cast(pa.int64()),
    }).sort_by("listener_id")
'''

GENERATE_PY = '''\
"""Writes the source data of the test mesh (the build tests call write_events instead)."""
'''


def write_events(root: Path, rows: int = EVENTS, *, name: str = "part-1.csv", bad: int = 0, start: int = 0) -> Path:
    """CSV rows of the listens source; ``bad`` of them have negative seconds (breaking a quality rule)."""
    folder = root / "data" / "listens"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "listener_id", "show_id", "seconds"])
        for i in range(start, start + rows):
            seconds = -5 if i - start < bad else 60 + i
            writer.writerow([f"E{i:06d}", f"L{i % 7:08d}", f"S{i % SHOWS}", seconds])
    return path


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _product(
    root: Path,
    domain: str,
    name: str,
    inputs: dict[str, str],
    properties: str,
    code: tuple[str, str],
    *,
    quality: str = "",
    schedule: str | None = None,
) -> None:
    custom = f'customProperties:\n  - {{property: schedule, value: "{schedule}"}}\n' if schedule else ""
    base = f"domains/{domain}/{name}"
    _write(
        root,
        f"{base}/product.odps.yaml",
        PRODUCT.format(
            domain=domain,
            name=name,
            version="1.0.0",
            custom=custom,
            inputs="".join(INPUT.format(name=k, contract=v) for k, v in inputs.items()),
        ),
    )
    _write(
        root,
        f"{base}/{name}.odcs.yaml",
        CONTRACT.format(domain=domain, name=name, properties=properties, quality=quality),
    )
    _write(root, f"{base}/{name}.{code[0]}", code[1])


def write_mesh(
    root: Path,
    *,
    rows: int = EVENTS,
    catalog_url_env: str | None = None,
    postgres_source: tuple[str, str] | None = None,
    schedule: str | None = None,
) -> Path:
    """Write the test mesh (and its source data) into ``root``; returns ``root``.

    ``postgres_source=(ENV_VAR, table)`` reads listens from PostgreSQL instead of CSV files.
    ``schedule`` gives podcasts.listening_events a cron schedule.
    """
    catalog = f"  catalog_url_env: {catalog_url_env}\n" if catalog_url_env else ""
    connections = f"connections:\n  hosting_db: {{env: {postgres_source[0]}}}\n" if postgres_source else ""
    _write(root, "mesh.yaml", MESH_YAML.format(catalog=catalog, connections=connections))
    _write(root, "generate.py", GENERATE_PY)
    for name in ("podcasts", "royalties"):
        _write(root, f"domains/{name}/domain.yaml", DOMAIN.format(name=name, title=name.title()))
    servers = SOURCE_LISTENS_PG if postgres_source else SOURCE_LISTENS_LOCAL
    table = postgres_source[1] if postgres_source else "listens"
    _write(root, "domains/podcasts/sources/listens.odcs.yaml", SOURCE_LISTENS.format(servers=servers, table=table))
    _write(root, "domains/podcasts/sources/shows.odcs.yaml", SOURCE_SHOWS)
    _product(
        root,
        "podcasts",
        "listening_events",
        {"listens": "podcasts.sources.listens"},
        EVENTS_PROPERTIES,
        ("sql", EVENTS_SQL),
        quality=EVENTS_QUALITY,
        schedule=schedule,
    )
    _product(root, "podcasts", "shows", {"shows": "podcasts.sources.shows"}, SHOWS_PROPERTIES, ("sql", SHOWS_SQL))
    _product(
        root,
        "podcasts",
        "listener_stats",
        {"listening_events": "podcasts.listening_events.listening_events"},
        STATS_PROPERTIES,
        ("py", STATS_PY),
    )
    _product(
        root,
        "royalties",
        "payouts",
        {"events": "podcasts.listening_events.listening_events", "shows": "podcasts.shows.shows"},
        PAYOUTS_PROPERTIES,
        ("sql", PAYOUTS_SQL),
    )
    if not postgres_source:
        write_events(root, rows)
    (root / "data").mkdir(exist_ok=True)
    with (root / "data" / "shows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["show_id", "title", "rate"])
        for i in range(SHOWS):
            writer.writerow([f"S{i}", f"Show {i}", 0.01 * (i + 1)])
    return root
