"""The adversarial suite again, each case sent by psycopg 3 over the PostgreSQL wire protocol.

The wire server's backend is the same gateway and resolver as test_adversarial. Whatever the statement
becomes on the wire (a data query for the gateway, or a catalog query answered from the metadata-only
catalog database), no canary may reach a result cell, a column name or an error message, and a case that
must run still runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from adversarial_cases import CASES, Case
from test_adversarial import leaks, substitute

from conftest import ANALYST, CONSUMER_KEY, Mesh
from meshplane.access import QueryGateway
from meshplane.access.gateway import QueryStream
from meshplane.catalog.tokens import scram_verifier
from meshplane.sql import PortRef
from meshplane.wire import WireConfig, running
from meshplane.wire.statements import Kind, classify
from meshplane.workspace.access import PortSchema

TOKEN = "wire-adversarial-token"
PORTS = ("crm.customers.customers", "sales.orders.orders", "ref.regions.regions")


class GatewayBackend:
    """The wire backend over the suite's gateway and resolver (one analyst, one token)."""

    def __init__(self, gateway: QueryGateway, resolver: Any) -> None:
        self.gateway = gateway
        self.resolver = resolver

    def authenticate(self, user: str, password: str) -> bool:
        return user == ANALYST.username and password == TOKEN

    def scram_verifiers(self, user: str) -> list[str]:
        return [scram_verifier(TOKEN, b"adversarial-salt")] if user == ANALYST.username else []

    def readable_ports(self, user: str) -> Sequence[PortSchema]:
        found = []
        for address in PORTS:
            self.resolver(PortRef(address))
            table = self.gateway.run(f"SELECT * FROM {address} LIMIT 0", ANALYST, self.resolver,
                                     consumer_key=CONSUMER_KEY).table  # fmt: skip
            found.append(PortSchema(address, "", table.schema, {}))
        return found

    def stream(self, user: str, sql: str) -> QueryStream:
        return self.gateway.stream(sql, ANALYST, self.resolver, consumer_key=CONSUMER_KEY)


@pytest.fixture(scope="module")
def wire_dsn(gateway: QueryGateway, resolver: Any) -> Iterator[str]:
    with running(GatewayBackend(gateway, resolver), WireConfig(port=0, catalog_ttl=60.0)) as server:
        yield f"host=127.0.0.1 port={server.port} user={ANALYST.username} password={TOKEN} dbname=t sslmode=disable"


@pytest.fixture(scope="module")
def connection(wire_dsn: str) -> Iterator[list[psycopg.Connection[Any]]]:
    holder = [psycopg.connect(wire_dsn, autocommit=True)]
    yield holder
    holder[0].close()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_through_the_wire(case: Case, connection: list[psycopg.Connection[Any]], wire_dsn: str, mesh: Mesh) -> None:
    sql = substitute(case.sql, mesh)
    if connection[0].closed or connection[0].broken:
        connection[0] = psycopg.connect(wire_dsn, autocommit=True)
    try:
        with connection[0].cursor() as cursor:
            cursor.execute(sql.encode())  # bytes: sent as written (no client-side % placeholders)
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall() if cursor.description else []
    except psycopg.Error as error:
        message = str(error)
        assert case.expect != "ok", f"refused a query that must run: {message}"
        assert not leaks(message, sql), message
        assert CONSUMER_KEY not in message
    else:
        text = repr(names) + repr(rows)
        assert not leaks(text, sql), text[:500]
        assert CONSUMER_KEY not in text
        if case.expect == "reject" and classify(sql).kind is Kind.DATA:
            pytest.fail(f"the gateway ran a query that must be refused: {text[:300]}")
