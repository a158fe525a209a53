"""Partition pruning through the governed gateway: a query with a predicate on a partition column reads only the
files that can match, and returns exactly what reading every file returns, with the row filter and masks as
before. Pruning never adds a file, never prunes by a masked column, and is skipped where a predicate does not
bound the port's rows (OR, a predicate on another relation, a masked value)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.builds.meshes import write_events, write_mesh

from meshplane.access import MaskKind, PortColumn, QueryGateway, ReadablePort
from meshplane.access.rewrite import rewrite_query
from meshplane.builds import Status
from meshplane.sql import PortRef
from meshplane.types import Address
from meshplane.workspace import Mesh

PORT = "podcasts.listening_events.listening_events"
FOLDER = "domains/podcasts/listening_events"


# --- the rewrite's side, with a resolver that records what it is asked to prune by ---------------------------


class PruningResolver:
    """One port of four files (one per region); ``prune`` keeps the files whose region a predicate admits."""

    def __init__(self, root: Path, *, masks: dict[str, MaskKind] | None = None, extra: str | None = None) -> None:
        self.files: dict[str, str] = {}
        for region in ("EU", "US", "APAC", "HIDDEN"):
            path = root / f"region={region}.parquet"
            duckdb.sql(
                f"select range::INTEGER as id, '{region}' as region, 'e' || range::VARCHAR || '@x.org' as email "
                f"from range(5)"
            ).to_parquet(str(path))
            self.files[region] = str(path)
        self.masks = masks if masks is not None else {"email": MaskKind.HASH}
        self.asked: list[tuple[Any, ...]] = []
        self.extra = extra  # a file prune answers that the port does not list

    def __call__(self, ref: PortRef) -> ReadablePort:
        return ReadablePort(
            address="crm.customers.customers",
            version="1.0.0",
            files=tuple(self.files.values()),
            columns=(PortColumn("id", "INTEGER"), PortColumn("region", "VARCHAR"), PortColumn("email", "VARCHAR")),
            masks=self.masks,
            row_filter="region <> 'HIDDEN'",
            snapshot_id=7,
        )

    def prune(self, port: ReadablePort, predicates: tuple[Any, ...]) -> tuple[str, ...] | None:
        self.asked.append(predicates)
        admitted = set(self.files)
        for column, op, values in predicates:
            if column == "region" and op in ("=", "in"):
                admitted &= set(values)  # type: ignore[arg-type]
        kept = tuple(self.files[r] for r in admitted)
        return (*kept, self.extra) if self.extra else kept


def _run(sql: str, files: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return sorted(duckdb.connect().sql(sql).fetchall()) if files else []


@pytest.mark.parametrize(
    ("where", "predicates", "regions"),
    [
        ("region = 'EU'", (("region", "=", ("EU",)),), {"EU"}),
        ("c.region IN ('EU', 'US') AND id >= 2", (("region", "in", ("EU", "US")), ("id", ">=", (2,))), {"EU", "US"}),
        ("'US' = region AND id BETWEEN 1 AND 3", (("region", "=", ("US",)), ("id", ">=", (1,)), ("id", "<=", (3,))),
         {"US"}),
        ("region = 'HIDDEN'", (("region", "=", ("HIDDEN",)),), {"HIDDEN"}),
    ],
)  # fmt: skip
def test_predicates_on_the_ports_columns_prune_its_files(
    tmp_path: Path, where: str, predicates: tuple[Any, ...], regions: set[str]
) -> None:
    resolver = PruningResolver(tmp_path)
    sql = f"SELECT c.id, c.region, c.email FROM crm.customers.customers AS c WHERE {where}"
    pruned = rewrite_query(sql, resolver, consumer_key="k")
    assert resolver.asked == [predicates]
    assert set(pruned.files) == {resolver.files[r] for r in regions}
    # The same rows as reading every file (no pruning resolver), row filter and mask applied: the filtered
    # region stays unreadable even when the pruned files are exactly its own.
    everything = rewrite_query(sql, resolver.__call__, consumer_key="k")
    assert len(everything.files) == 4
    assert _run(pruned.sql, pruned.files) == _run(everything.sql, everything.files)
    assert all(row[1] != "HIDDEN" and "@" not in row[2] for row in _run(pruned.sql, pruned.files))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM crm.customers.customers WHERE region = 'EU' OR id = 1",  # not a conjunct bound
        "SELECT id FROM crm.customers.customers WHERE email = 'e1@x.org'",  # masked: a predicate on hashes
        "SELECT c.id FROM crm.customers.customers AS c JOIN (SELECT 'EU' AS region) AS r ON true "
        "WHERE r.region = 'EU'",  # another relation's column
        "SELECT c.id FROM crm.customers.customers AS c JOIN (SELECT 'EU' AS x) AS r ON true "
        "WHERE region = 'EU'",  # unqualified next to another relation
        "SELECT id FROM crm.customers.customers WHERE upper(region) = 'EU'",  # not the column itself
        "SELECT id FROM (SELECT * FROM crm.customers.customers) WHERE region = 'EU'",  # an outer query's WHERE
    ],
)
def test_no_pruning_where_the_predicate_does_not_bound_the_ports_raw_rows(tmp_path: Path, sql: str) -> None:
    resolver = PruningResolver(tmp_path)
    rewritten = rewrite_query(sql, resolver, consumer_key="k")
    assert len(rewritten.files) == 4 and resolver.asked == []


def test_a_masked_partition_column_is_never_pruned_by(tmp_path: Path) -> None:
    resolver = PruningResolver(tmp_path, masks={"region": MaskKind.REDACT})
    rewritten = rewrite_query("SELECT id FROM crm.customers.customers WHERE region = '***'", resolver, consumer_key="k")
    assert len(rewritten.files) == 4 and resolver.asked == []


def test_pruning_never_adds_a_file_the_port_does_not_list(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.parquet"
    duckdb.sql("select 99 as id, 'EU' as region, 'FOREIGNCANARY' as email").to_parquet(str(foreign))
    resolver = PruningResolver(tmp_path, extra=str(foreign))
    rewritten = rewrite_query("SELECT * FROM crm.customers.customers WHERE region = 'EU'", resolver, consumer_key="k")
    assert rewritten.files == (resolver.files["EU"],) and str(foreign) not in rewritten.sql


def test_a_self_join_prunes_each_reference_by_its_own_predicates(tmp_path: Path) -> None:
    resolver = PruningResolver(tmp_path)
    sql = (
        "SELECT a.id, b.id FROM crm.customers.customers AS a JOIN crm.customers.customers AS b ON a.id = b.id "
        "WHERE a.region = 'EU' AND b.region = 'US'"
    )
    rewritten = rewrite_query(sql, resolver, consumer_key="k")
    assert resolver.asked == [(("region", "=", ("EU",)),), (("region", "=", ("US",)),)]
    assert set(rewritten.files) == {resolver.files["EU"], resolver.files["US"]}
    assert rewritten.sql.count(resolver.files["EU"]) == 1 and rewritten.sql.count(resolver.files["US"]) == 1


# --- a built mesh: the table's partition spec and the access policy's resolver -------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_mesh(tmp_path_factory.mktemp("pruning") / "mesh")
    contract = root / FOLDER / "listening_events.odcs.yaml"
    text = contract.read_text()
    old = "      - {name: show_id, logicalType: string, required: true}"
    assert old in text
    contract.write_text(text.replace(old, old[:-1] + ", partitioned: true, partitionKeyPosition: 1}", 1))
    write_events(root, 40)
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"])
        assert [o.status for o in result.outcomes] == [Status.SUCCESS], str(result)
    return root


def _plan(mesh: Mesh, user: str, sql: str) -> Any:
    access = mesh.access
    principal = access.directory.principal(user)
    gateway: QueryGateway = access.gateway
    return gateway.plan(sql, access.policy.resolver(principal), consumer_key=access.consumer_key(user))


def test_a_query_on_the_partition_column_reads_only_that_partitions_files(built: Path) -> None:
    with Mesh.open(built) as mesh:
        snapshot = mesh.builds.current(Address.parse(PORT))
        assert snapshot is not None and len(snapshot.data_files) >= 4  # one file per show at least
        everything = _plan(mesh, "alice", f"SELECT * FROM {PORT}")
        one_show = _plan(mesh, "alice", f"SELECT * FROM {PORT} WHERE show_id = 'S1'")
        two_shows = _plan(mesh, "alice", f"SELECT count(*) FROM {PORT} WHERE show_id IN ('S1', 'S2')")
        assert len(everything.files) == len(snapshot.data_files)
        assert 0 < len(one_show.files) < len(two_shows.files) < len(everything.files)
        assert set(one_show.files) <= set(everything.files)
        # The answer is the one reading every file gives (a predicate pruning cannot use reads them all).
        pruned = mesh.access.query("alice", f"SELECT event_id FROM {PORT} WHERE show_id = 'S1' ORDER BY 1")
        unpruned = mesh.access.query("alice", f"SELECT event_id FROM {PORT} WHERE show_id || '' = 'S1' ORDER BY 1")
        assert pruned.table.num_rows == 10 and pruned.table == unpruned.table
        none = _plan(mesh, "alice", f"SELECT * FROM {PORT} WHERE show_id = 'NO_SUCH_SHOW'")
        assert none.files == ()
        assert mesh.access.query("alice", f"SELECT * FROM {PORT} WHERE show_id = 'NO_SUCH_SHOW'").rows == 0
