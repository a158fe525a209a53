"""Fixtures: a fresh catalog per test on each backend, and a small media mesh snapshot.

PostgreSQL tests get their own database, cloned from a template migrated once per session, so parallel
runs and other suites sharing the server never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.catalog import (
    CatalogStore,
    ColumnLineageEdge,
    ColumnRecord,
    DomainRecord,
    GlossaryTerm,
    LineageEdge,
    MeshSnapshot,
    PortRecord,
    ProductRecord,
    TeamMember,
    TeamRecord,
)

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated database to clone; dropped at the end of the session."""
    admin = _pg_admin()
    name = f"mp_catalog_tmpl_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        CatalogStore.open(f"{PG_SERVER}/{name}").close()
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (no schema), dropped afterwards."""
    admin = _pg_admin()
    name = f"mp_catalog_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty catalog on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    template = request.getfixturevalue("pg_template")
    admin = _pg_admin()
    name = f"mp_catalog_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    with CatalogStore.open(catalog_url) as opened:
        yield opened


def _col(name: str, **kw: object) -> ColumnRecord:
    return ColumnRecord(name=name, logical_type=str(kw.pop("logical_type", "string")), **kw)  # type: ignore[arg-type]


def media_snapshot(*, listening_version: str = "1.0.0", changes: tuple[str, ...] = ()) -> MeshSnapshot:
    """Two domains, three products, a glossary; the shape the workspace will hand over."""
    events = PortRecord(
        address="podcasts.listening_events.listening_events",
        version=listening_version,
        access_level="restricted",
        description="One row per listening session of a podcast episode.",
        contract={"id": "podcasts.listening_events.listening_events", "version": listening_version},
        columns=(
            _col("event_id", primary_key=True, required=True, description="Unique id of the session."),
            _col("listener_id", semantic_type="listener_id", classification="internal"),
            _col("listener_email", classification="pii", description="E-mail address of the listener."),
            _col("seconds", logical_type="integer", physical_type="BIGINT", description="Seconds listened."),
        ),
    )
    listening = ProductRecord(
        address="podcasts.listening_events",
        version=listening_version,
        status="active",
        type="sourceAligned",
        owner_team="podcasts-team",
        title="Listening events",
        description="Every play of every podcast episode, cleaned and deduplicated.",
        tags=("podcasts", "listening"),
        access_level="restricted",
        ports=(events,),
        changes=changes,
    )
    insights = ProductRecord(
        address="podcasts.listening_insights",
        version="0.3.0",
        status="draft",
        type="aggregate",
        owner_team="podcasts-team",
        title="Listening insights",
        description="Daily audience per show, derived from listening events.",
        tags=("podcasts", "audience"),
        ports=(
            PortRecord(
                address="podcasts.listening_insights.daily_audience",
                version="0.3.0",
                description="Listeners per show and day.",
                columns=(_col("show_id"), _col("day", logical_type="date"), _col("listeners")),
            ),
        ),
    )
    royalties = ProductRecord(
        address="royalties.payouts",
        version="2.1.0",
        status="active",
        type="consumerAligned",
        owner_team="royalties-team",
        title="Royalty payouts",
        description="Monthly payouts to rights holders, computed from listening time.",
        tags=("finance",),
        ports=(
            PortRecord(
                address="royalties.payouts.monthly",
                version="2.1.0",
                description="One row per rights holder and month.",
                columns=(
                    _col("holder_id", description="Rights holder."),
                    _col("amount", logical_type="number", classification="confidential"),
                ),
            ),
        ),
    )
    return MeshSnapshot(
        domains=(
            DomainRecord("podcasts", "Podcasts", "Podcast production, hosting and listening.", "podcasts-team"),
            DomainRecord("royalties", "Royalties", "Paying rights holders.", "royalties-team"),
        ),
        products=(listening, insights, royalties),
        glossary=(
            GlossaryTerm("listener_id", "Listener identifier", "Pseudonymous id of a listener.", "string", "internal"),
        ),
        teams=(
            TeamRecord("podcasts-team", "Podcasts", (TeamMember("alice", "owner"), TeamMember("bob", "engineer"))),
            TeamRecord("royalties-team", "Royalties", (TeamMember("rita", "analyst"),)),
        ),
        lineage=(
            LineageEdge("podcasts.sources.hosting_listens", "podcasts.listening_events.listening_events"),
            LineageEdge("podcasts.listening_events.listening_events", "podcasts.listening_insights.daily_audience"),
            LineageEdge("podcasts.listening_events.listening_events", "royalties.payouts.monthly"),
        ),
        column_lineage=(
            ColumnLineageEdge(
                "podcasts.listening_events.listening_events", "seconds", "royalties.payouts.monthly", "amount"
            ),
        ),
    )


@pytest.fixture
def synced(store: CatalogStore) -> CatalogStore:
    store.writer.sync_mesh(media_snapshot())
    return store


@pytest.fixture
def make_snapshot():  # type: ignore[no-untyped-def]
    return media_snapshot
