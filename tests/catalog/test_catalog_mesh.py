"""sync_mesh and the reader's views of the mesh's specs."""

from __future__ import annotations

from meshplane.catalog import (
    CatalogStore,
    ColumnLineageEdge,
    GlossaryTerm,
    LineageEdge,
    MeshSnapshot,
    TeamMember,
)


def test_sync_round_trips_every_spec_record(synced: CatalogStore, make_snapshot) -> None:  # type: ignore[no-untyped-def]
    snap: MeshSnapshot = make_snapshot()
    r = synced.reader
    assert r.domains() == sorted(snap.domains, key=lambda d: d.name)
    assert r.domain("royalties") == snap.domains[1]
    assert r.domain("nope") is None
    assert r.products() == sorted(snap.products, key=lambda p: p.address)
    listening = r.product("podcasts.listening_events")
    assert listening == snap.products[0]
    assert listening is not None and listening.ports[0].contract["version"] == "1.0.0"
    assert [c.name for c in listening.ports[0].columns] == ["event_id", "listener_id", "listener_email", "seconds"]
    assert r.product("podcasts.missing") is None
    assert [p.address for p in r.products(domain="podcasts")] == [
        "podcasts.listening_events",
        "podcasts.listening_insights",
    ]
    assert [p.address for p in r.products(owner_team="royalties-team")] == ["royalties.payouts"]
    assert [p.address for p in r.products(status="draft")] == ["podcasts.listening_insights"]
    assert [p.address for p in r.ports(product="royalties.payouts")] == ["royalties.payouts.monthly"]
    assert len(r.ports()) == 3
    assert r.port("royalties.payouts.monthly") == snap.products[2].ports[0]
    assert r.port("royalties.payouts.nope") is None
    assert r.glossary() == [GlossaryTerm("listener_id", "Listener identifier", "Pseudonymous id of a listener.",
                                          "string", "internal")]  # fmt: skip
    teams = r.teams()
    assert [t.name for t in teams] == ["podcasts-team", "royalties-team"]
    assert teams[0].members == (TeamMember("alice", "owner"), TeamMember("bob", "engineer"))
    assert r.teams_of("alice") == ["podcasts-team"]
    assert r.teams_of("nobody") == []
    assert len(r.lineage_edges()) == 3
    assert r.lineage_edges(upstream="podcasts.listening_events.listening_events") == [
        LineageEdge("podcasts.listening_events.listening_events", "podcasts.listening_insights.daily_audience"),
        LineageEdge("podcasts.listening_events.listening_events", "royalties.payouts.monthly"),
    ]
    assert r.lineage_edges(downstream="royalties.payouts.monthly")[0].upstream.startswith("podcasts.")
    edge = ColumnLineageEdge("podcasts.listening_events.listening_events", "seconds", "royalties.payouts.monthly",
                             "amount")  # fmt: skip
    assert r.column_lineage() == [edge]
    assert r.column_lineage(port="royalties.payouts.monthly") == [edge]
    assert r.column_lineage(port="podcasts.listening_insights.daily_audience") == []


def test_resync_replaces_specs_and_records_new_versions(synced: CatalogStore, make_snapshot) -> None:  # type: ignore[no-untyped-def]
    first = synced.reader.versions("podcasts.listening_events")
    assert [(v.version, v.changes) for v in first] == [("1.0.0", ())]
    synced.writer.start_run("podcasts.listening_events")
    bumped = make_snapshot(listening_version="2.0.0", changes=("column seconds renamed",))
    smaller = MeshSnapshot(
        domains=bumped.domains[:1], products=bumped.products[:1], glossary=(), teams=bumped.teams[:1]
    )
    synced.writer.sync_mesh(smaller)
    r = synced.reader
    assert [d.name for d in r.domains()] == ["podcasts"]
    assert [p.address for p in r.products()] == ["podcasts.listening_events"]
    assert r.glossary() == [] and r.lineage_edges() == [] and r.column_lineage() == []
    versions = r.versions("podcasts.listening_events")
    assert [(v.version, v.changes) for v in versions] == [("1.0.0", ()), ("2.0.0", ("column seconds renamed",))]
    assert versions[0].recorded_at <= versions[1].recorded_at
    assert [v.version for v in r.versions("podcasts.listening_events.listening_events")] == ["1.0.0", "2.0.0"]
    # the same version synced again is not recorded twice
    synced.writer.sync_mesh(smaller)
    assert len(r.versions("podcasts.listening_events")) == 2
    assert len(r.runs()) == 1  # history survives syncs


def test_empty_snapshot_clears_specs(synced: CatalogStore) -> None:
    synced.writer.sync_mesh(MeshSnapshot())
    assert synced.reader.products() == []
    assert synced.reader.search("listening").total == 0
