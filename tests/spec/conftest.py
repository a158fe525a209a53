"""A small valid mesh that the spec tests copy and break one way at a time.

Two domains (podcasts, royalties), one source, and two products where royalties.payouts reads
podcasts.listening_events across the domain boundary. The files are written out literally so that the
line:column positions the tests assert are visible right here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BASE_FILES: dict[str, str] = {
    "mesh.yaml": """\
name: media
title: Media
platform:
  engine: duckdb
teams:
  - name: podcasts-team
    members:
      - {username: alice, role: owner}
  - name: royalties-team
    members:
      - {username: rita, role: owner}
  - name: governance-guild
    members: [{username: gina, role: lead}]
governance_team: governance-guild
""",
    "glossary.yaml": """\
terms:
  - name: listener_id
    title: Listener identifier
    logicalType: string
""",
    "domains/podcasts/domain.yaml": """\
name: podcasts
title: Podcasts
owner: podcasts-team
""",
    "domains/royalties/domain.yaml": """\
name: royalties
title: Royalties
owner: royalties-team
""",
    "domains/podcasts/sources/hosting_listens.odcs.yaml": """\
apiVersion: v3.1.0
kind: DataContract
id: podcasts.sources.hosting_listens
version: 1.0.0
status: active
servers:
  - server: local
    type: local
    path: data/listens/*.csv
    format: csv
schema:
  - name: listens
    physicalType: table
    properties:
      - name: listener_id
        logicalType: string
      - name: seconds
        logicalType: integer
""",
    "domains/podcasts/listening_events/product.odps.yaml": """\
apiVersion: v1.0.0
kind: DataProduct
id: podcasts.listening_events
name: listening_events
domain: podcasts
version: 1.0.0
status: active
team:
  name: podcasts-team
inputPorts:
  - name: hosting_listens
    version: ^1.0.0
    contractId: podcasts.sources.hosting_listens
outputPorts:
  - name: listening_events
    type: tables
    version: 1.0.0
    contractId: podcasts.listening_events.listening_events
    customProperties:
      - {property: accessLevel, value: public}
customProperties:
  - {property: schedule, value: "0 * * * *"}
  - {property: engine, value: duckdb}
""",
    "domains/podcasts/listening_events/listening_events.odcs.yaml": """\
apiVersion: v3.1.0
kind: DataContract
id: podcasts.listening_events.listening_events
version: 1.0.0
status: active
schema:
  - name: listening_events
    physicalType: table
    properties:
      - name: listener_id
        logicalType: string
        required: true
        authoritativeDefinitions:
          - {type: semanticType, url: "glossary:listener_id"}
      - name: listener_email
        logicalType: string
        classification: pii
        customProperties:
          - {property: mask, value: hash}
      - name: seconds
        logicalType: integer
""",
    "domains/podcasts/listening_events/listening_events.sql": """\
SELECT listener_id, listener_id || '@example.com' AS listener_email, seconds FROM hosting_listens
""",
    "domains/royalties/payouts/product.odps.yaml": """\
apiVersion: v1.0.0
kind: DataProduct
id: royalties.payouts
name: payouts
domain: royalties
version: 1.0.0
status: active
team:
  name: royalties-team
inputPorts:
  - name: listens
    version: ^1.0.0
    contractId: podcasts.listening_events.listening_events
outputPorts:
  - name: payouts
    type: tables
    version: 2.1.0
    contractId: royalties.payouts.payouts
""",
    "domains/royalties/payouts/payouts.odcs.yaml": """\
apiVersion: v3.1.0
kind: DataContract
id: royalties.payouts.payouts
version: 2.1.0
status: active
schema:
  - name: payouts
    physicalType: table
    properties:
      - name: listener_id
        logicalType: string
      - name: amount
        logicalType: number
""",
    "domains/royalties/payouts/payouts.sql": """\
SELECT listener_id, sum(seconds) * 0.001 AS amount FROM listens GROUP BY listener_id
""",
}


def _standard_pack_switched_off() -> str:
    """A global policy file replacing every built-in policy with a disabled copy.

    This suite pins the spec layer's own located messages; the governance suites test the pack. A guild may
    switch a built-in policy off this way (a global policy with a pack id replaces the pack's version).
    """
    import yaml

    from meshplane.governance import pack_files

    policies = []
    for path in pack_files():
        for policy in yaml.safe_load(path.read_text("utf-8"))["policies"]:
            policies.append({**policy, "enabled": False})
    return yaml.safe_dump({"policies": policies}, sort_keys=False)


def write_base_mesh(root: Path) -> Path:
    """Write the valid base mesh under ``root`` and return ``root``."""
    for relative, text in BASE_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "spec-suite.yaml").write_text(_standard_pack_switched_off(), "utf-8")
    return root


@pytest.fixture
def base_mesh(tmp_path: Path) -> Path:
    return write_base_mesh(tmp_path / "mesh")
