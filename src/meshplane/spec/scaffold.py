"""Writing new mesh files: ``meshplane init`` and ``meshplane new``.

The templates follow the standards' own idiom (ODPS ``dataproduct init``, ODCS examples), so what
meshplane writes is what DataHub, datacontract-cli or Entropy Data would read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from string import Template

from ruamel.yaml import YAML

from meshplane.errors import NotFound, UsageError
from meshplane.spec.models import NAME_PATTERN

__all__ = ["new_domain", "new_mesh", "new_product", "new_source"]

_MESH = Template("""\
# The mesh: platform settings, connections (secrets come from environment variables) and teams.
name: $name
title: $title
description: A data mesh managed with meshplane.
platform:
  engine: duckdb
  warehouse: .meshplane/warehouse
connections: {}
teams:
  - name: governance-guild
    title: Federated governance guild
    members:
      - {username: $user, role: lead}
  - name: platform-team
    title: Data platform team
    members:
      - {username: $user, role: engineer}
governance_team: governance-guild
platform_team: platform-team
""")

_GLOSSARY = """\
# Shared semantic types: columns that reference the same term join across domains.
terms:
  - name: record_id
    title: Record identifier
    description: Stable identifier of a record, unique within its product.
    logicalType: string
"""

_DOMAIN = Template("""\
name: $name
title: $title
description: The $title domain.
owner: $owner
""")

_PRODUCT = Template("""\
apiVersion: v1.0.0
kind: DataProduct
id: $domain.$name
name: $name
domain: $domain
version: 0.1.0
status: draft
description:
  purpose: What decisions this product supports.
  usage: How consumers should use it.
  limitations: What it does not cover.
tags: [$domain]
team:
  name: $team
inputPorts: []
outputPorts:
  - name: $name
    description: The main table of $name.
    type: tables
    version: 0.1.0
    contractId: $domain.$name.$name
    customProperties:
      - {property: accessLevel, value: public}
customProperties:
  - {property: productType, value: sourceAligned}
""")

_CONTRACT = Template("""\
apiVersion: v3.1.0
kind: DataContract
id: $domain.$name.$name
name: $name
version: 0.1.0
status: draft
domain: $domain
dataProduct: $name
description:
  purpose: The main table of $domain.$name.
schema:
  - name: $name
    physicalType: table
    description: One row per record.
    properties:
      - name: record_id
        logicalType: string
        physicalType: VARCHAR
        required: true
        unique: true
        primaryKey: true
        primaryKeyPosition: 1
        description: Identifier of the record.
$semantic_type        quality:
          - {metric: nullValues, mustBe: 0}
      - name: label
        logicalType: string
        physicalType: VARCHAR
        description: Human-readable label.
    quality:
      - {metric: rowCount, mustBeGreaterThan: 0}
slaProperties:
  - {property: latency, value: 1, unit: d}
  - {property: frequency, value: 1, unit: d}
""")

_TRANSFORM = """\
-- Each input port is a relation named after the port. DuckDB dialect.
SELECT 'r-1' AS record_id, 'first record' AS label
UNION ALL
SELECT 'r-2', 'second record'
"""


def _check_name(kind: str, name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise UsageError(f"{kind} name {name!r} must be lower_snake_case (letters, digits, underscores)")


def _write(path: Path, text: str) -> Path:
    if path.exists():
        raise UsageError(f"{path} already exists; meshplane never overwrites a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def new_mesh(
    root: Path, name: str | None = None, user: str = "admin", *, policies: Mapping[str, str] | None = None
) -> list[Path]:
    """mesh.yaml, glossary.yaml, .gitignore, and ``policies`` (relative path under policies/ -> text), e.g. a
    copy of the standard policy pack to read and adapt (a global policy with a pack id replaces the pack's)."""
    mesh_name = (name or root.resolve().name).replace("-", "_").lower()
    _check_name("mesh", mesh_name)
    title = mesh_name.replace("_", " ").title()
    written = [
        _write(root / "mesh.yaml", _MESH.substitute(name=mesh_name, title=title, user=user)),
        _write(root / "glossary.yaml", _GLOSSARY),
        _write(root / ".gitignore", ".meshplane/\ndata/\n"),
    ]
    (root / "domains").mkdir(exist_ok=True)
    (root / "policies").mkdir(exist_ok=True)
    for relative, text in sorted((policies or {}).items()):
        target = root / "policies" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(_write(target, text))
    return written


def _ensure_team(root: Path, team: str) -> bool:
    """Declare ``team`` in mesh.yaml (keeping its comments) when missing; True when added."""
    yaml = YAML()  # round-trip: comments and order survive
    yaml.indent(mapping=2, sequence=4, offset=2)  # the indentation meshplane init writes
    path = root / "mesh.yaml"
    data = yaml.load(path.read_text("utf-8"))
    teams = data.setdefault("teams", [])
    if any(t.get("name") == team for t in teams):
        return False
    teams.append({"name": team, "members": []})
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return True


def new_domain(root: Path, name: str, owner: str | None = None) -> list[Path]:
    _check_name("domain", name)
    if not (root / "mesh.yaml").is_file():
        raise UsageError(f"{root} has no mesh.yaml; run meshplane init first")
    team = owner or f"{name.replace('_', '-')}-team"
    _ensure_team(root, team)
    title = name.replace("_", " ").title()
    return [_write(root / "domains" / name / "domain.yaml", _DOMAIN.substitute(name=name, title=title, owner=team))]


def new_product(root: Path, domain: str, name: str) -> list[Path]:
    _check_name("product", name)
    domain_file = root / "domains" / domain / "domain.yaml"
    if not domain_file.is_file():
        raise NotFound(f"no domain {domain!r}; run meshplane new domain {domain} first")
    owner = YAML(typ="safe", pure=True).load(domain_file.read_text("utf-8")).get("owner")
    folder = root / "domains" / domain / name
    # The identifier names the glossary's record_id only where the mesh defines it (meshplane init does):
    # a scaffold must pass `meshplane check` in any mesh.
    glossary = root / "glossary.yaml"
    loaded = YAML(typ="safe", pure=True).load(glossary.read_text("utf-8")) if glossary.is_file() else None
    terms = loaded.get("terms") if isinstance(loaded, dict) else None
    names = {t.get("name") for t in terms or [] if isinstance(t, dict)}
    semantic_type = (
        '        authoritativeDefinitions:\n          - {type: semanticType, url: "glossary:record_id"}\n'
        if "record_id" in names
        else ""
    )
    values = {"domain": domain, "name": name, "team": owner, "semantic_type": semantic_type}
    return [
        _write(folder / "product.odps.yaml", _PRODUCT.substitute(values)),
        _write(folder / f"{name}.odcs.yaml", _CONTRACT.substitute(values)),
        _write(folder / f"{name}.sql", _TRANSFORM),
    ]


_SOURCE = Template("""\
apiVersion: v3.1.0
kind: DataContract
id: $domain.sources.$name
name: $name
version: 1.0.0
status: active
domain: $domain
description:
  purpose: Raw $name data as the $domain domain receives it; products read it through an input port.
servers:
  - server: local
    type: local
    path: data/$domain/$name/*.$format   # a glob relative to the mesh root
    format: $format                      # parquet | csv | json
schema:
  - name: $name
    physicalType: table
    description: One row per $name record.
    properties:
      - name: id
        logicalType: string
        description: Identifier of the record; list every column the files hold.
""")


def new_source(root: Path, domain: str, name: str, file_format: str = "csv") -> list[Path]:
    """A source contract (files under data/<domain>/<name>/) that passes check; edit its columns and path."""
    _check_name("source", name)
    if file_format not in ("parquet", "csv", "json"):
        raise UsageError(f"--format {file_format!r}: write parquet, csv or json")
    if not (root / "domains" / domain / "domain.yaml").is_file():
        raise NotFound(f"no domain {domain!r}; run meshplane new domain {domain} first")
    values = {"domain": domain, "name": name, "format": file_format}
    return [_write(root / "domains" / domain / "sources" / f"{name}.odcs.yaml", _SOURCE.substitute(values))]
