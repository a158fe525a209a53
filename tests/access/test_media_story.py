"""The issue's "Done when" story on the media example, built at a small scale.

A royalties analyst (raj) joins podcast listening events with royalties payout lines. Before the podcasts
owner (amelie) approves his request, the join is denied with a message saying how to ask; afterwards it
returns hashed e-mails and only the rows of the approved row filter; revoking or letting the grant expire
stops it. Every step is in the audit log and every query in the query log.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import meshplane
from meshplane.catalog import QueryDecision
from meshplane.errors import AccessDenied, MeshError, QueryRejected
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
EVENTS = "podcasts.listening_events.listening_events"
JOIN_FROM = f"""
FROM {EVENTS} AS le
JOIN royalties.creator_payouts.payout_lines AS pl
  ON pl.content_id = le.show_id AND pl.payout_month = date_trunc('month', le.started_at)
"""
JOIN = "SELECT le.event_id, le.country_code, le.listener_email, le.ip_address, pl.amount" + JOIN_FROM


@pytest.fixture(scope="module", params=["local", "s3"])
def media(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The media mesh built with its warehouse on local disk, and again in a bucket of the loopback S3 server."""
    root = tmp_path_factory.mktemp("media-story") / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    subprocess.run([sys.executable, "generate.py", "--scale", "0.05"], cwd=root, check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "s3":
            server = request.getfixturevalue("s3_server")
            for key, value in server.env().items():
                patch.setenv(key, value)
            config = root / "mesh.yaml"
            bucket = server.create_bucket("media")
            config.write_text(
                config.read_text("utf-8").replace("warehouse: .meshplane/warehouse", f"warehouse: s3://{bucket}/wh"),
                "utf-8",
            )
        mesh = Mesh.open(root)
        if request.param == "s3":
            assert mesh.platform.object_store is not None
        agree_declared_as_owners(mesh.graph, mesh.access)
        result = mesh.build()
        assert result.ok, [o.error for o in result.outcomes if o.error]
        yield mesh
        mesh.access.close()
        mesh.close()


def _raw_events(mesh: Mesh) -> pa.Table:
    return mesh.read(EVENTS)


def test_done_when_story(media: Mesh) -> None:
    access = media.access

    # before approval: denied, and the message says how to request access
    with pytest.raises(AccessDenied) as denied:
        access.query("raj", JOIN)
    message = str(denied.value)
    assert f"meshplane access request {EVENTS} --purpose" in message
    assert "restricted" in message

    request = access.request_access("raj", EVENTS, "monthly royalty statements for UK shows")
    assert request.status.value == "pending"
    assert [v.id for v in access.list_requests("amelie", pending=True) if v.may_decide] == [request.id]

    # only the port's deciders approve; never the requester
    for outsider in ("kofi", "ivan", "raj"):  # hannah and gina could: governance
        with pytest.raises(AccessDenied):
            access.approve(outsider, request.id, "country_code = 'GB'")
    grant = access.approve("amelie", request.id, "country_code = 'GB'")
    assert grant.row_filter == "country_code = 'GB'" and grant.grantee == "raj"

    result = access.query("raj", JOIN)
    table = result.table
    assert table.num_rows > 0
    assert set(table.column("country_code").to_pylist()) == {"GB"}

    raw = _raw_events(media)
    raw_emails = {e for e in raw.column("listener_email").to_pylist() if e}
    raw_ips = {e for e in raw.column("ip_address").to_pylist() if e}
    emails = table.column("listener_email").to_pylist()
    assert not raw_emails & set(emails)
    assert not raw_ips & set(table.column("ip_address").to_pylist())
    assert all(len(e) == 64 and all(ch in "0123456789abcdef" for ch in e) for e in emails if e is not None)

    # the hash is keyed per consumer: raj's values are sha256(raj's key || e-mail)
    by_event = dict(zip(raw.column("event_id").to_pylist(), raw.column("listener_email").to_pylist(), strict=True))
    key = access.consumer_key("raj")
    first = table.slice(0, 1).to_pylist()[0]
    assert first["listener_email"] == hashlib.sha256((key + by_event[first["event_id"]]).encode()).hexdigest()
    assert access.consumer_key("julia") != key

    # only the allowed rows: the same join as the owner computes it over the GB rows
    owner = access.query("amelie", "SELECT count(*) AS n" + JOIN_FROM + "WHERE le.country_code = 'GB'")
    assert owner.table.column("n").to_pylist()[0] == table.num_rows
    owner_raw = access.query("amelie", f"SELECT listener_email FROM {EVENTS} LIMIT 5").table
    assert set(owner_raw.column("listener_email").to_pylist()) <= raw_emails  # owners see their data unmasked

    # revoke stops access at once
    access.revoke("amelie", request.id, "statement done")
    with pytest.raises(AccessDenied):
        access.query("raj", JOIN)

    actions = [(e.actor, e.action) for e in reversed(access.audit_log(limit=200))]
    story = [("raj", "query"), ("raj", "access.request"), ("amelie", "access.approve"), ("raj", "query"),
             ("amelie", "access.revoke"), ("raj", "query")]  # fmt: skip
    position = 0
    for step in actions:
        if position < len(story) and step == story[position]:
            position += 1
    assert position == len(story), actions
    approve_event = access.audit_log(action="access.approve", subject=EVENTS, limit=1)[0]
    assert approve_event.detail["row_filter"] == "country_code = 'GB'"

    logged = access.query_log(username="raj", port=EVENTS, limit=50)
    decisions = [entry.decision for entry in logged]
    assert QueryDecision.ALLOWED in decisions
    allowed = next(e for e in logged if e.decision is QueryDecision.ALLOWED)
    assert set(allowed.ports) == {EVENTS, "royalties.creator_payouts.payout_lines"}
    assert allowed.rows == table.num_rows and allowed.duration_ms is not None
    denied_entries = [e for e in access.query_log(username="raj", limit=50) if e.decision is QueryDecision.DENIED]
    assert denied_entries and "meshplane access request" in (denied_entries[0].error or "")
    owner_entry = access.query_log(username="amelie", limit=5)
    assert owner_entry and all("'GB'" not in e.sql for e in owner_entry)  # literals never reach the log


def test_expired_grants_never_resolve(media: Mesh) -> None:
    access = media.access
    until = datetime.now(UTC) + timedelta(seconds=3)
    request = access.request_access("kofi", EVENTS, "payout reconciliation", columns=["event_id", "show_id"],
                                    until=until)  # fmt: skip
    access.approve("bilal", request.id)
    table = access.query("kofi", f"SELECT * FROM {EVENTS} LIMIT 3").table
    assert table.column_names == ["event_id", "show_id"]  # only the requested columns
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.2)
    with pytest.raises(AccessDenied, match="no active grant"):
        access.query("kofi", f"SELECT event_id FROM {EVENTS} LIMIT 3")
    states = {v.id: v.state for v in access.list_requests("kofi")}
    assert states[request.id] == "expired"


def test_connect_returns_arrow_with_polars_and_pandas(media: Mesh) -> None:
    with meshplane.connect(media.root, as_user="raj") as connection:
        result = connection.sql(
            "SELECT show_id, sum(listens) AS listens FROM podcasts.listening_insights.daily_listens GROUP BY 1"
        )
        assert isinstance(result.to_arrow(), pa.Table)
        assert result.num_rows == len(result) > 0
        assert pa.table(result).num_rows == result.num_rows  # the Arrow stream protocol
        frame = result.to_polars()
        assert frame.height == result.num_rows and frame.columns == ["show_id", "listens"]
        pandas_frame = result.to_pandas()
        assert list(pandas_frame.columns) == ["show_id", "listens"]
        assert len(pandas_frame) == result.num_rows
    with pytest.raises(AccessDenied):
        meshplane.connect(media.root, as_user="mallory")


def test_public_ports_readable_by_anyone_in_the_mesh(media: Mesh) -> None:
    for user in ("raj", "hannah", "gina", "paolo"):
        rows = media.access.query(user, "SELECT count(*) AS n FROM films.catalog.titles").table
        assert rows.column("n").to_pylist()[0] > 0
    # the two-part address names a product's single port
    assert media.access.query("raj", "SELECT count(*) AS n FROM films.catalog").table.num_rows == 1


def test_private_ports_are_refused_to_other_domains(media: Mesh) -> None:
    sql = "SELECT * FROM royalties.rights_holders.royalty_rates"
    for outsider in ("amelie", "gina", "paolo"):
        with pytest.raises(AccessDenied, match="private"):
            media.access.query(outsider, sql)
    with pytest.raises(AccessDenied, match="private"):
        media.access.request_access("amelie", "royalties.rights_holders.royalty_rates", "curious")
    assert media.access.query("kofi", sql).table.num_rows > 0  # the owning domain reads it


def test_unknown_users_are_refused_and_logged(media: Mesh) -> None:
    with pytest.raises(AccessDenied, match="not a user of this mesh"):
        media.access.query("mallory", "SELECT * FROM films.catalog.titles")
    entry = media.access.query_log(username="mallory", limit=1)[0]
    assert entry.decision is QueryDecision.DENIED
    with pytest.raises(AccessDenied):
        media.access.request_access("mallory", EVENTS, "x")


def test_time_travel_and_versions(media: Mesh) -> None:
    snapshot = media.builds.current(Address.parse("films.catalog.titles"))
    assert snapshot is not None
    access = media.access
    at_version = f"AT (VERSION => {snapshot.snapshot_id})"
    by_id = access.query("raj", f"SELECT count(*) AS n FROM films.catalog.titles {at_version}")
    assert by_id.table.column("n").to_pylist()[0] == snapshot.row_count
    assert by_id.ports[0].snapshot_id == snapshot.snapshot_id
    moment = (snapshot.timestamp + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    by_time = access.query("raj", f"SELECT count(*) AS n FROM films.catalog.titles AT (TIMESTAMP => '{moment}')")
    assert by_time.table.column("n").to_pylist()[0] == snapshot.row_count
    with pytest.raises(QueryRejected):
        access.query("raj", "SELECT * FROM films.catalog.titles AT (VERSION => 1)")
    with pytest.raises(QueryRejected):
        access.query("raj", "SELECT * FROM films.catalog.titles AT (TIMESTAMP => '2001-01-01 00:00:00')")
    # films.catalog.titles is at 2.0.0: .v2 is the current table, no v1 table was ever published here
    versioned = access.query("raj", "SELECT count(*) AS n FROM films.catalog.titles.v2")
    assert versioned.table.column("n").to_pylist()[0] == snapshot.row_count
    assert versioned.ports[0].version == "2.0.0"
    with pytest.raises(QueryRejected, match="v1"):
        access.query("raj", "SELECT * FROM films.catalog.titles.v1")
    # time travel never bypasses a grant
    with pytest.raises(AccessDenied):
        access.query("raj", f"SELECT * FROM {EVENTS} AT (VERSION => {snapshot.snapshot_id})")


def test_build_by_non_owner_is_refused(media: Mesh) -> None:
    gate = media.access.build_gate("raj")
    with pytest.raises(AccessDenied, match="podcasts-team"):
        gate(media.graph.products[Address.parse("podcasts.catalog")])
    media.access.build_gate("bilal")(media.graph.products[Address.parse("podcasts.catalog")])
    media.access.build_gate("sara")(media.graph.products[Address.parse("podcasts.catalog")])  # platform team
    result = media.build(["podcasts.catalog"], full_refresh=True, gate=media.access.build_gate("raj"))
    assert not result.ok
    assert any("may not build" in (o.error or "") for o in result.outcomes)


def test_cli_query_and_requests(media: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    from meshplane.cli.app import main

    def run(*args: str) -> int:
        try:
            main([*args, "--mesh", str(media.root)])
        except SystemExit as done:
            return int(done.code or 0)
        return 0

    assert run("query", f"SELECT count(*) AS n FROM {EVENTS}", "--as", "julia") == 1
    assert f"meshplane access request {EVENTS} --purpose" in capsys.readouterr().err
    assert run("access", "request", EVENTS, "--purpose", "audit of payouts", "--as", "julia") == 0
    request_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert run("access", "approve", request_id, "--row-filter", "country_code = 'DE'", "--as", "amelie") == 0
    capsys.readouterr()
    assert run("query", f"SELECT DISTINCT country_code FROM {EVENTS}", "--as", "julia", "--format", "csv") == 0
    assert capsys.readouterr().out.split() == ['"country_code"', '"DE"']
    assert run("access", "revoke", request_id, "--as", "julia") == 0  # the requester gives the grant up


def test_errors_are_mesh_errors(media: Mesh) -> None:
    with pytest.raises(MeshError):
        media.access.query("raj", "DROP TABLE films.catalog.titles")


def test_a_query_is_logged_before_its_result_is_returned(media: Mesh) -> None:
    """Read the catalog directly (not through the service, which would flush first)."""
    reader = media.platform.catalog.reader
    before = len(reader.query_log(username="raj", limit=10_000))
    media.access.query("raj", "SELECT count(*) FROM podcasts.listening_insights.daily_listens")
    entries = reader.query_log(username="raj", limit=10_000)
    assert len(entries) == before + 1
    assert entries[0].ports == ("podcasts.listening_insights.daily_listens",)


def test_a_month_range_on_the_partitioned_events_reads_only_that_months_files(media: Mesh) -> None:
    """listening_events is partitioned by month(started_at): October's sessions are read from October's files
    (on local disk and on S3), with the same answer and the owner's row filter for a granted consumer."""
    access = media.access
    owner = access.directory.principal("amelie")

    def plan(sql: str) -> tuple[str, ...]:
        rewritten = access.gateway.plan(sql, access.policy.resolver(owner), consumer_key=access.consumer_key("amelie"))
        return rewritten.files

    every = plan(f"SELECT count(*) FROM {EVENTS}")
    october = plan(f"SELECT count(*) FROM {EVENTS} WHERE started_at >= '2026-10-01' AND started_at < '2026-11-01'")
    assert 0 < len(october) < len(every) / 6  # a year of months; October only (and its daily appends)
    pruned = access.query("amelie", f"SELECT count(*) AS n FROM {EVENTS} WHERE started_at >= '2026-10-01'")
    whole = access.query(
        "amelie", f"SELECT count(*) AS n FROM {EVENTS} WHERE strftime(started_at, '%Y-%m') >= '2026-10'"
    )
    assert pruned.table["n"][0].as_py() == whole.table["n"][0].as_py() > 0
