"""Nested ODCS properties (STRUCT fields) carry classification and masks like top-level columns.

The media example's listening events gain a ``listener`` STRUCT whose ``email`` field is ``pii`` (no mask
declared: hashed by default) and whose ``ip`` field is masked ``partial``; an analyst holding a grant reads
the struct with those fields masked, its ``country`` field as it is, and the owner reads it raw.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.access.ownership import port_masks
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
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("nested") / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    sql = root / FOLDER / "listening_events.sql"
    sql.write_text(sql.read_text().replace(
        "    started_at_utc                AS started_at\n",
        "    started_at_utc                AS started_at,\n"
        "    {'email': lower(email), 'ip': client_ip, 'country': upper(geo_country)} AS listener\n"))  # fmt: skip
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
