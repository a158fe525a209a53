"""Nested ODCS properties (STRUCT fields, and the fields of a LIST of STRUCT's elements) carry classification
and masks like top-level columns; fields the contract does not declare are not visible.

The media example's listening events gain a ``listener`` STRUCT whose ``email`` field is ``pii`` (no mask
declared: hashed by default) and whose ``ip`` field is masked ``partial``; an analyst holding a grant reads
the struct with those fields masked, its ``country`` field as it is, and the owner reads it raw. The
transform also writes a ``tracking_id`` field the contract does not declare: only the owner sees it. A
``plays`` LIST of STRUCT (ODCS ``logicalType: array`` with ``items.properties``) has a ``pii`` ``email`` field
in each element, a ``device_ip`` field masked ``partial`` and an undeclared ``fingerprint`` field.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.access.ownership import port_masks
from meshplane.errors import MeshError
from meshplane.types import Address
from meshplane.workspace import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
EVENTS = "podcasts.listening_events.listening_events"
FOLDER = Path("domains/podcasts/listening_events")
LISTENER = """      - name: listener
        logicalType: object
        physicalType: STRUCT(email VARCHAR, ip VARCHAR, country VARCHAR)
        description: The listener account as the hosting platform reports it.
        properties:
          - {name: email, logicalType: string, classification: pii, description: Account e-mail.}
          - name: ip
            logicalType: string
            classification: pii
            description: Request address.
            customProperties: [{property: mask, value: partial}]
          - {name: country, logicalType: string, description: Country code.}
      - name: plays
        logicalType: array
        physicalType: STRUCT(email VARCHAR, device_ip VARCHAR, seconds INTEGER)[]
        description: The plays of the session as the player reported them.
        items:
          logicalType: object
          properties:
            - {name: email, logicalType: string, classification: pii, description: Account e-mail.}
            - name: device_ip
              logicalType: string
              classification: pii
              description: Address of the playing device.
              customProperties: [{property: mask, value: partial}]
            - {name: seconds, logicalType: integer, description: Seconds played.}
      - name: preferences
        logicalType: object
        physicalType: MAP(VARCHAR, VARCHAR)
        description: Player settings by key; only the declared keys are shown to consumers.
        properties:
          - {name: email, logicalType: string, classification: pii, description: Contact address setting.}
          - {name: plan, logicalType: string, description: Subscription plan.}
      - name: debug
        logicalType: object
        physicalType: MAP(VARCHAR, VARCHAR)
        description: Free-form debugging values; no key is declared.
"""
MAPS_SQL = (
    ",\n    MAP {'email': lower(email), 'plan': 'gold', 'session_token': 'MAPTOKENCANARY-' || listener_id}"
    " AS preferences,\n    MAP {'trace': 'DEBUGCANARY-' || listener_id} AS debug\n"
)
PLAYS_SQL = (
    "    [{'email': lower(email), 'device_ip': client_ip, 'seconds': CAST(listened_seconds AS INTEGER),"
    " 'fingerprint': 'FPCANARY-' || listener_id},\n"
    "     {'email': lower(email), 'device_ip': client_ip, 'seconds': 1, 'fingerprint': 'FPCANARY'}] AS plays\n"
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("nested") / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    sql = root / FOLDER / "listening_events.sql"
    sql.write_text(sql.read_text().replace(
        "    started_at_utc                AS started_at\n",
        "    started_at_utc                AS started_at,\n"
        "    {'email': lower(email), 'ip': client_ip, 'country': upper(geo_country),\n"
        "     'tracking_id': 'TRACKCANARY-' || listener_id} AS listener,\n"
        + PLAYS_SQL.rstrip("\n") + MAPS_SQL))  # fmt: skip
    contract = root / FOLDER / "listening_events.odcs.yaml"
    text = contract.read_text()
    anchor = "      - name: listener_email\n"
    contract.write_text(text.replace(anchor, LISTENER + anchor, 1))
    subprocess.run([sys.executable, "generate.py", "--scale", "0.02"], cwd=root, check=True, capture_output=True)
    mesh = Mesh.open(root)
    result = mesh.build(["podcasts.listening_events"])
    assert result.ok, [o.error for o in result.outcomes if o.error]
    yield mesh
    mesh.access.close()
    mesh.close()


def test_contract_masks_name_nested_fields(media: Mesh) -> None:
    port = media.graph.ports[Address.parse(EVENTS)]
    masks = port_masks(port.contract)
    assert masks["listener.email"] == "hash"  # pii without a declared mask
    assert masks["listener.ip"] == "partial"
    assert "listener.country" not in masks and "listener" not in masks


def test_grant_holder_reads_masked_fields_owner_reads_raw(media: Mesh) -> None:
    request = media.access.request_access("raj", EVENTS, "nested fields")
    media.access.approve("amelie", request.id)
    raw = media.connect(as_user="bilal").sql(f"SELECT listener FROM {EVENTS} ORDER BY event_id LIMIT 20")
    seen = media.connect(as_user="raj").sql(f"SELECT listener FROM {EVENTS} ORDER BY event_id LIMIT 20")
    pairs = list(zip(raw.arrow.column("listener").to_pylist(), seen.arrow.column("listener").to_pylist(), strict=True))
    assert pairs and all(owner["email"] and "@" in owner["email"] for owner, _ in pairs)
    for owner, analyst in pairs:
        assert analyst["email"] != owner["email"] and len(analyst["email"]) == 64  # sha256 hex, salted per user
        assert analyst["ip"] != owner["ip"] and analyst["ip"].startswith("***")
        assert analyst["country"] == owner["country"]
    fields = media.connect(as_user="raj").sql(f"SELECT listener.email AS e FROM {EVENTS} ORDER BY event_id LIMIT 20")
    assert fields.arrow.column("e").to_pylist() == [a["email"] for _, a in pairs]


def test_map_values_show_declared_keys_only_masked_per_key(media: Mesh) -> None:
    """A MAP's keys are data: a grant holder sees the entries of the keys the contract declares (the pii key
    hashed), never an undeclared key, and not at all a MAP that declares none; the owner sees every key."""
    masks = port_masks(media.graph.ports[Address.parse(EVENTS)].contract)
    assert masks["preferences.email"] == "hash" and "preferences.plan" not in masks
    media.access.approve("amelie", media.access.request_access("raj", EVENTS, "maps").id)
    query = f"SELECT * FROM {EVENTS} ORDER BY event_id LIMIT 20"
    owner = media.connect(as_user="bilal").sql(query).arrow
    seen = media.connect(as_user="raj").sql(query).arrow
    assert "debug" in owner.column_names and "debug" not in seen.column_names
    raw, shown = (dict(v) for v in (owner.column("preferences")[0].as_py(), seen.column("preferences")[0].as_py()))
    assert set(raw) == {"email", "plan", "session_token"} and set(shown) == {"email", "plan"}
    assert "@" in raw["email"] and len(shown["email"]) == 64 and shown["plan"] == raw["plan"] == "gold"
    raj = media.connect(as_user="raj")
    probes = (f"SELECT preferences['session_token'] AS t, map_keys(preferences) AS k, "
              f"CAST(preferences AS VARCHAR) AS s, to_json(preferences) AS j FROM {EVENTS} LIMIT 20")  # fmt: skip
    text = repr(seen.to_pylist()) + repr(raj.sql(probes).arrow.to_pylist())
    assert "CANARY" not in text and "session_token" not in text and "@" not in text
    with pytest.raises(MeshError) as refused:
        raj.sql(f"SELECT debug['trace'] FROM {EVENTS}")
    assert "CANARY" not in str(refused.value)


def test_contract_masks_name_fields_of_list_elements(media: Mesh) -> None:
    masks = port_masks(media.graph.ports[Address.parse(EVENTS)].contract)
    assert masks["plays.email"] == "hash" and masks["plays.device_ip"] == "partial"
    assert "plays" not in masks and "plays.seconds" not in masks


def test_undeclared_struct_fields_only_owner_sees(media: Mesh) -> None:
    owner = media.connect(as_user="bilal").sql(f"SELECT listener, plays FROM {EVENTS} ORDER BY event_id LIMIT 5")
    assert all(row["tracking_id"].startswith("TRACKCANARY") for row in owner.arrow.column("listener").to_pylist())
    assert all(p["fingerprint"] for row in owner.arrow.column("plays").to_pylist() for p in row)
    media.access.approve("amelie", media.access.request_access("raj", EVENTS, "undeclared fields").id)
    raj = media.connect(as_user="raj")
    seen = raj.sql(f"SELECT * FROM {EVENTS} ORDER BY event_id LIMIT 5").arrow
    assert seen.schema.field("listener").type.names == ["email", "ip", "country"]
    assert seen.schema.field("plays").type.value_type.names == ["email", "device_ip", "seconds"]
    text = repr(seen.to_pylist()) + repr(raj.sql(f"SELECT to_json(listener), CAST(plays AS VARCHAR) FROM {EVENTS}"
                                                 " LIMIT 5").arrow.to_pylist())  # fmt: skip
    assert "CANARY" not in text and "tracking_id" not in text and "fingerprint" not in text
    for probe in (f"SELECT listener.tracking_id FROM {EVENTS}", f"SELECT plays[1].fingerprint FROM {EVENTS}"):
        with pytest.raises(MeshError) as refused:
            raj.sql(probe)
        assert "CANARY" not in str(refused.value)


def test_list_of_struct_fields_masked_per_element(media: Mesh) -> None:
    media.access.approve("amelie", media.access.request_access("raj", EVENTS, "plays").id)
    query = f"SELECT event_id, plays FROM {EVENTS} ORDER BY event_id LIMIT 20"
    raw = media.connect(as_user="bilal").sql(query).arrow.column("plays").to_pylist()
    seen = media.connect(as_user="raj").sql(query).arrow.column("plays").to_pylist()
    assert raw and len(raw) == len(seen)
    for owner_plays, analyst_plays in zip(raw, seen, strict=True):
        assert len(owner_plays) == len(analyst_plays) == 2
        for owner, analyst in zip(owner_plays, analyst_plays, strict=True):
            assert "@" in owner["email"] and analyst["email"] != owner["email"] and len(analyst["email"]) == 64
            assert analyst["device_ip"].startswith("***") and analyst["device_ip"] != owner["device_ip"]
            assert analyst["seconds"] == owner["seconds"]
    unnested = media.connect(as_user="raj").sql(
        f"SELECT u.email FROM (SELECT unnest(plays) AS u, event_id FROM {EVENTS}) ORDER BY event_id LIMIT 10"
    )
    assert all(len(e) == 64 for e in unnested.arrow.column("email").to_pylist())


def test_partial_mask_on_a_list_masks_each_field(tmp_path: Path) -> None:
    import duckdb

    from meshplane.access import MaskKind, PortColumn, ReadablePort, rewrite_query

    data = tmp_path / "plays.parquet"
    duckdb.sql("SELECT [{'email': 'ana@example.org', 'seconds': 12345678, 'extra': 'HIDDENCANARY'}] AS plays"
               ).write_parquet(str(data))  # fmt: skip

    def resolve(ref: object) -> ReadablePort:
        return ReadablePort(address=EVENTS, version="1.0.0", files=(str(data),), masks={"plays": MaskKind.PARTIAL},
                            columns=(PortColumn("plays", "STRUCT(email VARCHAR, seconds INTEGER)[]"),))  # fmt: skip

    sql = rewrite_query(f"SELECT plays FROM {EVENTS}", resolve, consumer_key="k").sql
    # each field of each element masked, the undeclared field gone; not the list's text cast to a string
    assert duckdb.sql(sql).fetchall() == [([{"email": "***@example.org", "seconds": "***5678"}],)]


def test_classified_fields_of_list_elements_count_for_the_flow_policy(media: Mesh) -> None:
    """``classification-flows-downstream`` accepts a column whose nested fields carry the classification: the
    fields of a LIST of STRUCT's elements (``items.properties``) count like a STRUCT's fields."""
    from meshplane.governance.inputs import column_doc

    port = media.graph.ports[Address.parse(EVENTS)]
    plays = next(c for c in port.contract.columns if c.name == "plays")
    listener = next(c for c in port.contract.columns if c.name == "listener")
    upstream = ("pii", ("podcasts.sources.hosting_listens.email",))
    assert column_doc(plays, EVENTS, port, "podcasts-team", {}, upstream)["nested_classifications"] == ["pii", "pii"]
    assert column_doc(listener, EVENTS, port, "podcasts-team", {}, upstream)["nested_classifications"] == ["pii", "pii"]


def test_declared_type_keeps_only_declared_fields() -> None:
    """The projection's type rule: declared fields only (names matched case-insensitively), in the data's own
    order, through lists; a STRUCT of which nothing is declared is not shown at all."""
    import pyarrow as pa

    from meshplane.access.ownership import declared_fields
    from meshplane.access.policy import declared_type

    contract = {"schema": [{"properties": [
        {"name": "listener", "logicalType": "object", "properties": [{"name": "Email"}, {"name": "geo", "properties": [
            {"name": "zone"}]}]},
        {"name": "plays", "logicalType": "array", "items": {"logicalType": "object", "properties": [{"name": "ip"}]}},
        {"name": "blob", "logicalType": "object"},
        {"name": "tags", "logicalType": "array", "items": {"logicalType": "string"}},
    ]}]}  # fmt: skip
    fields = declared_fields(contract)
    listener = pa.struct([("secret", pa.string()), ("email", pa.string()),
                          ("geo", pa.struct([("zone", pa.int32()), ("note", pa.string())]))])  # fmt: skip
    assert declared_type(listener, fields["listener"]) == pa.struct(
        [("email", pa.string()), ("geo", pa.struct([("zone", pa.int32())]))]
    )
    plays = pa.list_(pa.struct([("ip", pa.string()), ("token", pa.string())]))
    assert declared_type(plays, fields["plays"]) == pa.list_(pa.struct([("ip", pa.string())]))
    assert declared_type(pa.struct([("x", pa.string())]), fields["blob"]) is None  # nothing of it declared
    assert declared_type(pa.list_(pa.string()), fields["tags"]) == pa.list_(pa.string())
    assert declared_type(pa.int64(), None) == pa.int64()
