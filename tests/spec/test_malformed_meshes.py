"""Table-driven malformed meshes: each case breaks the valid base mesh one way and asserts the exact
located line that ``meshplane check`` prints, exit code 1, and that no traceback reaches the user."""

# Expected messages stay on one line each so that they read exactly as the CLI prints them.
# ruff: noqa: E501

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshplane.cli.app import main
from meshplane.spec.yamlsafe import MAX_FILE_BYTES

Mutation = Callable[[Path], None]
LOCATED = re.compile(r"^\S+(:\d+:\d+)?: (error|warning): .+ \[[a-z0-9-]+\]$")
MESHPLANE = Path(sys.executable).with_name("meshplane")

PODCASTS_DOMAIN = "domains/podcasts/domain.yaml"
ROYALTIES_DOMAIN = "domains/royalties/domain.yaml"
SOURCE = "domains/podcasts/sources/hosting_listens.odcs.yaml"
EVENTS = "domains/podcasts/listening_events/product.odps.yaml"
EVENTS_CONTRACT = "domains/podcasts/listening_events/listening_events.odcs.yaml"
PAYOUTS = "domains/royalties/payouts/product.odps.yaml"
PAYOUTS_CONTRACT = "domains/royalties/payouts/payouts.odcs.yaml"
PAYOUTS_SQL = "domains/royalties/payouts/payouts.sql"


# -- mutations ------------------------------------------------------------------------------------------------


def replace(relative: str, old: str, new: str) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / relative
        text = path.read_text("utf-8")
        assert text.count(old) == 1, f"{old!r} must occur once in {relative}"
        path.write_text(text.replace(old, new), "utf-8")

    return mutate


def write(relative: str, text: str) -> Mutation:
    def mutate(root: Path) -> None:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, "utf-8")

    return mutate


def write_bytes(relative: str, data: bytes) -> Mutation:
    def mutate(root: Path) -> None:
        (root / relative).write_bytes(data)

    return mutate


def delete(relative: str) -> Mutation:
    def mutate(root: Path) -> None:
        (root / relative).unlink()

    return mutate


def move(old: str, new: str) -> Mutation:
    def mutate(root: Path) -> None:
        (root / old).rename(root / new)

    return mutate


def chain(*mutations: Mutation) -> Mutation:
    def mutate(root: Path) -> None:
        for mutation in mutations:
            mutation(root)

    return mutate


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[index]
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    lines.append("terms: *i")
    return "\n".join(lines) + "\n"


PAYOUTS_PORTS = """\
outputPorts:
  - name: payouts
    type: tables
    version: 2.1.0
    contractId: royalties.payouts.payouts
"""
PAYOUTS_COLUMNS = """\
    properties:
      - name: listener_id
        logicalType: string
      - name: amount
        logicalType: number
"""
SOURCE_SERVERS = """\
servers:
  - server: local
    type: local
    path: data/listens/*.csv
    format: csv
"""
INPUT_FROM_SOURCE = """\
  - name: hosting_listens
    version: ^1.0.0
    contractId: podcasts.sources.hosting_listens
"""
INPUT_FROM_PAYOUTS = """\
  - name: payouts
    version: ^2.0.0
    contractId: royalties.payouts.payouts
"""


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Mutation
    expected: tuple[str, ...]


def case(id: str, mutate: Mutation, *expected: str) -> Case:
    return Case(id, mutate, expected)


CASES: list[Case] = [
    # -- hostile YAML -------------------------------------------------------------------------------------------
    case(
        "yaml-python-tag",
        replace(ROYALTIES_DOMAIN, "owner: royalties-team", 'owner: !!python/object/apply:os.system ["touch pwned"]'),
        "domains/royalties/domain.yaml:3:8: error: YAML tag '!!python/object/apply:os.system' is not allowed [yaml-tag]",
    ),
    case(
        "yaml-custom-tag",
        replace(PODCASTS_DOMAIN, "title: Podcasts", "title: !custom Podcasts"),
        "domains/podcasts/domain.yaml:2:8: error: YAML tag '!custom' is not allowed [yaml-tag]",
    ),
    case(
        "yaml-billion-laughs",
        write("glossary.yaml", _billion_laughs()),
        "glossary.yaml:6:11: error: alias *e expands the document to more than 200,000 values (an alias bomb?) [yaml-alias-bomb]",
    ),
    case(
        "yaml-duplicate-key",
        replace(PODCASTS_DOMAIN, "owner: podcasts-team", "owner: podcasts-team\ntitle: Again"),
        "domains/podcasts/domain.yaml:4:1: error: duplicate key 'title' (first defined on line 2) [yaml-duplicate-key]",
    ),
    case(
        "yaml-too-large",
        write("glossary.yaml", "terms: []\n" + "#" * (MAX_FILE_BYTES + 10) + "\n"),
        "glossary.yaml: error: file is 2,097,173 bytes, over the 2,097,152-byte limit for mesh files [yaml-size]",
    ),
    case(
        "yaml-invalid-utf8",
        write_bytes(PODCASTS_DOMAIN, b"name: podcasts\ntitle: Pod\xffcasts\nowner: podcasts-team\n"),
        "domains/podcasts/domain.yaml:2:11: error: invalid UTF-8 byte 0xff [yaml-encoding]",
    ),
    case(
        "yaml-deep-nesting",
        replace("mesh.yaml", "title: Media", "title: " + "[" * 60 + "]" * 60),
        "mesh.yaml:2:55: error: nesting deeper than 48 levels [yaml-depth]",
    ),
    case(
        "yaml-very-deep-nesting",
        replace("mesh.yaml", "title: Media", "title: " + "[" * 10_000 + "]" * 10_000),
        "mesh.yaml:2:55: error: nesting deeper than 48 levels [yaml-depth]",
    ),
    case(
        "yaml-deep-block-nesting",
        replace(
            "glossary.yaml",
            "terms:\n",
            "extra:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "v: 1\nterms:\n",
        ),
        "glossary.yaml:49:97: error: nesting deeper than 48 levels [yaml-depth]",
    ),
    case(
        "yaml-merge-key",
        replace("mesh.yaml", "title: Media", "base: &base {title: Media}\n<<: *base"),
        "mesh.yaml:3:1: error: merge keys (<<) are not allowed [yaml-merge-key]",
    ),
    case(
        "yaml-multi-document",
        write(PODCASTS_DOMAIN, "name: podcasts\nowner: podcasts-team\n---\nname: other\n"),
        "domains/podcasts/domain.yaml:3:1: error: more than one YAML document in the file [yaml-multi]",
    ),
    case(
        "yaml-syntax-error",
        replace("mesh.yaml", "title: Media", "title: [Media"),
        "mesh.yaml:3:9: error: invalid YAML: did not find expected ',' or ']' [yaml-syntax]",
    ),
    case(
        "yaml-bad-indentation",
        replace(ROYALTIES_DOMAIN, "title: Royalties", "title: Royalties\n  owner: x"),
        "domains/royalties/domain.yaml:3:8: error: invalid YAML: mapping values are not allowed in this context [yaml-syntax]",
    ),
    case(
        "yaml-top-level-list",
        write(PODCASTS_DOMAIN, "- name: podcasts\n- owner: podcasts-team\n"),
        "domains/podcasts/domain.yaml:1:1: error: expected a mapping of keys at the top of the file, found a list [yaml-shape]",
    ),
    case(
        "yaml-empty-file",
        write(PODCASTS_DOMAIN, ""),
        "domains/podcasts/domain.yaml:1:1: error: the file is empty [yaml-shape]",
    ),
    case(
        "yaml-complex-key",
        replace(PODCASTS_DOMAIN, "title: Podcasts", "? [a, b]\n: Podcasts"),
        "domains/podcasts/domain.yaml:2:3: error: a mapping key must be a plain string [yaml-key]",
    ),
    # -- mesh.yaml ---------------------------------------------------------------------------------------------
    case(
        "mesh-missing", delete("mesh.yaml"), "mesh.yaml: error: no mesh.yaml here: this folder is not a mesh [no-mesh]"
    ),
    case(
        "mesh-unknown-key",
        replace("mesh.yaml", "title: Media", "title: Media\nplatfrom: {engine: duckdb}"),
        "mesh.yaml:3:1: error: mesh.yaml: platfrom: unknown key [spec-field]",
    ),
    case(
        "mesh-bad-name",
        replace("mesh.yaml", "name: media", "name: Media-Mesh"),
        "mesh.yaml:1:1: error: mesh.yaml: name: 'Media-Mesh' is not lower_snake_case [spec-field]",
    ),
    case(
        "mesh-bad-engine",
        replace("mesh.yaml", "engine: duckdb", "engine: oracle"),
        "mesh.yaml:4:3: error: mesh.yaml: platform.engine: 'oracle' is not allowed [spec-field]",
    ),
    case(
        "mesh-undeclared-governance-team",
        replace("mesh.yaml", "governance_team: governance-guild", "governance_team: governance"),
        "mesh.yaml:14:1: error: governance_team 'governance' is not a declared team [team]",
    ),
    case(
        "mesh-sign-in-undeclared-team",
        replace(
            "mesh.yaml",
            "governance_team: governance-guild",
            "governance_team: governance-guild\nsign_in:\n  group_teams:\n    producers: podcast-crew",
        ),
        "mesh.yaml:17:5: error: sign_in maps group 'producers' to team 'podcast-crew', which is not declared [team]",
    ),
    case(
        "mesh-duplicate-team",
        replace(
            "mesh.yaml",
            "  - name: royalties-team",
            "  - name: podcasts-team\n    members: []\n  - name: royalties-team",
        ),
        "mesh.yaml:9:5: error: team 'podcasts-team' is declared twice [team]",
    ),
    # -- glossary.yaml -----------------------------------------------------------------------------------------
    case(
        "glossary-unknown-field",
        replace("glossary.yaml", "    logicalType: string", "    logicalTyp: string"),
        "glossary.yaml:4:5: error: glossary.yaml: terms[0].logicalTyp: unknown key [spec-field]",
    ),
    case(
        "glossary-bad-term-name",
        replace("glossary.yaml", "- name: listener_id", "- name: Listener-ID"),
        "glossary.yaml:2:5: error: glossary.yaml: terms[0].name: 'Listener-ID' is not lower_snake_case [spec-field]",
    ),
    # -- domain.yaml -------------------------------------------------------------------------------------------
    case(
        "domain-missing",
        delete(ROYALTIES_DOMAIN),
        "domains/royalties/domain.yaml: error: domain folder 'royalties' has no domain.yaml [domain]",
    ),
    case(
        "domain-name-mismatch",
        replace(ROYALTIES_DOMAIN, "name: royalties", "name: royalty"),
        "domains/royalties/domain.yaml:1:1: error: domain name 'royalty' does not match its folder [domain]",
    ),
    case(
        "domain-undeclared-owner",
        replace(ROYALTIES_DOMAIN, "owner: royalties-team", "owner: finance-team"),
        "domains/royalties/domain.yaml:3:1: error: owner team 'finance-team' is not declared in mesh.yaml [domain-owner]",
    ),
    case(
        "domain-missing-owner",
        replace(ROYALTIES_DOMAIN, "owner: royalties-team\n", ""),
        "domains/royalties/domain.yaml:1:1: error: domain.yaml: owner: required key is missing [spec-field]",
    ),
    # -- product.odps.yaml: the ODPS schema ----------------------------------------------------------------------
    case(
        "odps-unknown-field",
        replace(PAYOUTS, "status: active", "status: active\nowner: rita"),
        "domains/royalties/payouts/product.odps.yaml:8:1: error: not a valid ODPS data product: unknown field 'owner' [odps-schema]",
    ),
    case(
        "odps-wrong-type",
        replace(PAYOUTS, "status: active", "status: active\ntags: royalties"),
        "domains/royalties/payouts/product.odps.yaml:8:1: error: not a valid ODPS data product: tags: 'royalties' is not of type 'array' [odps-schema]",
    ),
    case(
        "odps-bad-api-version",
        replace(PAYOUTS, "apiVersion: v1.0.0", "apiVersion: v9.0.0"),
        "domains/royalties/payouts/product.odps.yaml:1:1: error: not a valid ODPS data product: apiVersion 'v9.0.0' is not a supported ODPS version [odps-version]",
    ),
    case(
        "odps-bad-status",
        replace(PAYOUTS, "status: active", "status: live"),
        "domains/royalties/payouts/product.odps.yaml:7:1: error: status 'live' is not an ODPS product status [product-status]",
    ),
    case(
        "odps-missing-id",
        replace(PAYOUTS, "id: royalties.payouts\n", ""),
        "domains/royalties/payouts/product.odps.yaml:1:1: error: not a valid ODPS data product: missing required field 'id' [odps-schema]",
    ),
    case(
        "odps-missing-status",  # ODPS v1.0.0 requires it (v1.1.0, which did not, is no published version)
        replace(PAYOUTS, "status: active\n", ""),
        "domains/royalties/payouts/product.odps.yaml:1:1: error: not a valid ODPS data product: missing required field 'status' [odps-schema]",
    ),
    case(
        "odps-unpublished-version",
        replace(PAYOUTS, "apiVersion: v1.0.0", "apiVersion: v1.1.0"),
        "domains/royalties/payouts/product.odps.yaml:1:1: error: not a valid ODPS data product: apiVersion 'v1.1.0' is not a supported ODPS version [odps-version]",
    ),
    case(
        "odps-port-unknown-field",
        replace(PAYOUTS, "    type: tables", "    type: tables\n    format: parquet"),
        "domains/royalties/payouts/product.odps.yaml:17:5: error: not a valid ODPS data product: unknown field 'format' in outputPorts[0] [odps-schema]",
    ),
    # -- product.odps.yaml: meshplane's rules --------------------------------------------------------------------
    case(
        "product-id-mismatch",
        replace(PAYOUTS, "id: royalties.payouts", "id: royalties.payout"),
        "domains/royalties/payouts/product.odps.yaml:3:1: error: product id 'royalties.payout' does not match its folder [product-id]",
    ),
    case(
        "product-domain-mismatch",
        replace(PAYOUTS, "domain: royalties", "domain: podcasts"),
        "domains/royalties/payouts/product.odps.yaml:5:1: error: domain 'podcasts' does not match the folder [product-domain]",
    ),
    case(
        "product-undeclared-team",
        replace(PAYOUTS, "name: royalties-team", "name: finance-team"),
        "domains/royalties/payouts/product.odps.yaml:9:3: error: team 'finance-team' is not declared in mesh.yaml [product-team]",
    ),
    case(
        "product-bad-semver",
        replace(PAYOUTS, "version: 1.0.0", "version: '1.0'"),
        "domains/royalties/payouts/product.odps.yaml:6:1: error: version '1.0' is not semantic versioning [semver]",
    ),
    case(
        "product-bad-kind",
        replace(PAYOUTS, "kind: DataProduct", "kind: DataContract"),
        "domains/royalties/payouts/product.odps.yaml:2:1: error: not a valid ODPS data product: kind: 'DataContract' is not allowed [odps-schema]",
    ),
    case(
        "product-no-output-ports",
        replace(PAYOUTS, PAYOUTS_PORTS, "outputPorts: []\n"),
        "domains/royalties/payouts/payouts.odcs.yaml:1:1: error: contract payouts.odcs.yaml belongs to no output port [orphan-contract]",
        "domains/royalties/payouts/product.odps.yaml:1:1: error: the product has no output ports [product-ports]",
    ),
    case(
        "product-folder-not-snake-case",
        move("domains/royalties/payouts", "domains/royalties/Payouts"),
        "domains/royalties/Payouts/product.odps.yaml:1:1: error: product folder 'Payouts' is not lower_snake_case [product-name]",
    ),
    case(
        "port-bad-name",
        replace(PAYOUTS, "  - name: payouts", "  - name: Payouts"),
        "domains/royalties/payouts/payouts.odcs.yaml:1:1: error: contract payouts.odcs.yaml belongs to no output port [orphan-contract]",
        "domains/royalties/payouts/product.odps.yaml:15:5: error: port name 'Payouts' is not lower_snake_case [port-name]",
    ),
    case(
        "port-missing-contract",
        delete(PAYOUTS_CONTRACT),
        "domains/royalties/payouts/product.odps.yaml:15:5: error: output port 'payouts' has no contract file payouts.odcs.yaml [port-contract]",
    ),
    case(
        "port-orphan-contract",
        write("domains/royalties/payouts/extra.odcs.yaml", "apiVersion: v3.1.0\n"),
        "domains/royalties/payouts/extra.odcs.yaml:1:1: error: contract extra.odcs.yaml belongs to no output port [orphan-contract]",
    ),
    case(
        "port-missing-transform",
        delete(PAYOUTS_SQL),
        "domains/royalties/payouts/product.odps.yaml:15:5: error: output port 'payouts' has no transform [transform]",
    ),
    case(
        "port-duplicate-transform",
        write("domains/royalties/payouts/payouts.py", "def transform(**inputs): ...\n"),
        "domains/royalties/payouts/product.odps.yaml:15:5: error: output port 'payouts' has both payouts.sql and payouts.py [transform]",
    ),
    case(
        "port-version-mismatch",
        replace(PAYOUTS, "    version: 2.1.0", "    version: 2.2.0"),
        "domains/royalties/payouts/product.odps.yaml:17:5: error: port version 2.2.0 differs from its contract's version 2.1.0 [port-version]",
    ),
    case(
        "port-contract-id-mismatch",
        replace(PAYOUTS, "contractId: royalties.payouts.payouts", "contractId: royalties.payouts.payout"),
        "domains/royalties/payouts/product.odps.yaml:18:5: error: output port 'payouts' must name its contract 'royalties.payouts.payouts' [port-contract]",
    ),
    case(
        "port-bad-access-level",
        replace(EVENTS, "value: public", "value: secret"),
        "domains/podcasts/listening_events/product.odps.yaml:20:33: error: unknown accessLevel 'secret' [access-level]",
    ),
    case(
        "product-bad-schedule",
        replace(EVENTS, '"0 * * * *"', '"every hour"'),
        "domains/podcasts/listening_events/product.odps.yaml:22:26: error: schedule 'every hour' is not a cron expression [schedule]",
    ),
    case(
        "product-bad-engine",
        replace(EVENTS, "value: duckdb", "value: oracle"),
        "domains/podcasts/listening_events/product.odps.yaml:23:24: error: unknown engine 'oracle' [engine]",
    ),
    case(
        "product-custom-property-twice",
        replace(
            EVENTS,
            "  - {property: engine, value: duckdb}",
            "  - {property: engine, value: duckdb}\n  - {property: engine, value: spark}",
        ),
        "domains/podcasts/listening_events/product.odps.yaml:24:6: error: custom property 'engine' is set twice [custom-duplicate]",
    ),
    # -- contracts: the ODCS schema ------------------------------------------------------------------------------
    case(
        "odcs-unknown-field",
        replace(PAYOUTS_CONTRACT, "status: active", "status: active\nowner: rita"),
        "domains/royalties/payouts/payouts.odcs.yaml:6:1: error: not a valid ODCS data contract: unknown field 'owner' [odcs-schema]",
    ),
    case(
        "odcs-wrong-type",
        replace(
            PAYOUTS_CONTRACT, "        logicalType: number", "        logicalType: number\n        required: maybe"
        ),
        "domains/royalties/payouts/payouts.odcs.yaml:14:9: error: not a valid ODCS data contract: schema[0].properties[1].required: 'maybe' is not of type 'boolean' [odcs-schema]",
    ),
    case(
        "odcs-bad-api-version",
        replace(PAYOUTS_CONTRACT, "apiVersion: v3.1.0", "apiVersion: v2.0.0"),
        "domains/royalties/payouts/payouts.odcs.yaml:1:1: error: not a valid ODCS data contract: apiVersion 'v2.0.0' is not a supported ODCS version [odcs-version]",
    ),
    case(
        "odcs-bad-logical-type",
        replace(PAYOUTS_CONTRACT, "logicalType: number", "logicalType: money"),
        "domains/royalties/payouts/payouts.odcs.yaml:13:9: error: not a valid ODCS data contract: schema[0].properties[1].logicalType: 'money' is not allowed [odcs-schema]",
    ),
    case(
        "odcs-missing-version",
        replace(PAYOUTS_CONTRACT, "version: 2.1.0\n", ""),
        "domains/royalties/payouts/payouts.odcs.yaml:1:1: error: not a valid ODCS data contract: missing required field 'version' [odcs-schema]",
    ),
    # -- contracts: meshplane's rules ----------------------------------------------------------------------------
    case(
        "contract-id-mismatch",
        replace(PAYOUTS_CONTRACT, "id: royalties.payouts.payouts", "id: royalties.payouts.payments"),
        "domains/royalties/payouts/payouts.odcs.yaml:3:1: error: contract id 'royalties.payouts.payments' does not match its file [contract-id]",
    ),
    case(
        "contract-bad-semver",
        chain(
            replace(PAYOUTS_CONTRACT, "version: 2.1.0", "version: two"),
            replace(PAYOUTS, "    version: 2.1.0", "    version: two"),
        ),
        "domains/royalties/payouts/payouts.odcs.yaml:4:1: error: version 'two' is not semantic versioning [semver]",
    ),
    case(
        "contract-two-tables",
        replace(
            PAYOUTS_CONTRACT,
            "  - name: payouts\n",
            "  - name: other\n    physicalType: table\n    properties: [{name: x, logicalType: string}]\n"
            "  - name: payouts\n",
        ),
        # several tables are one port with several tables, each with its own transform (payouts.<table>.sql)
        "domains/royalties/payouts/product.odps.yaml:15:5: error: output port 'payouts' has 2 tables in its contract (other, payouts); payouts.sql builds one [transform]",
    ),
    case(
        "contract-no-columns",
        replace(PAYOUTS_CONTRACT, PAYOUTS_COLUMNS, ""),
        "domains/royalties/payouts/payouts.odcs.yaml:7:5: error: the table declares no properties (columns) [contract-schema]",
    ),
    case(
        "column-duplicate",
        replace(PAYOUTS_CONTRACT, "      - name: amount", "      - name: listener_id"),
        "domains/royalties/payouts/payouts.odcs.yaml:12:9: error: column 'listener_id' is declared twice [column-duplicate]",
    ),
    # A column named AmountEUR is no reading error: the standard pack's column-naming policy reports it, and a
    # waiver can accept it (tests/governance/test_naming_waivable.py).
    case(
        "column-unknown-classification",
        replace(EVENTS_CONTRACT, "classification: pii", "classification: secret"),
        "domains/podcasts/listening_events/listening_events.odcs.yaml:17:9: error: unknown classification 'secret' [classification-unknown]",
    ),
    case(
        "column-unknown-mask",
        replace(EVENTS_CONTRACT, "value: hash", "value: scramble"),
        "domains/podcasts/listening_events/listening_events.odcs.yaml:19:30: error: unknown mask 'scramble' [mask-unknown]",
    ),
    case(
        "column-bad-glossary-ref",
        replace(EVENTS_CONTRACT, "glossary:listener_id", "glossary:listener_key"),
        "domains/podcasts/listening_events/listening_events.odcs.yaml:13:9: error: column 'listener_id' refers to glossary term 'listener_key', which glossary.yaml does not define [glossary-ref]",
    ),
    # -- sources -------------------------------------------------------------------------------------------------
    case(
        "source-no-servers",
        replace(SOURCE, SOURCE_SERVERS, ""),
        "domains/podcasts/sources/hosting_listens.odcs.yaml:3:1: error: a source contract needs a servers entry saying where the data is [source-server]",
    ),
    case(
        "source-bad-server-type",
        replace(SOURCE, "type: local", "type: s3"),
        "domains/podcasts/sources/hosting_listens.odcs.yaml:7:5: error: not a valid ODCS source contract: servers[0]: missing required field 'location' [odcs-schema]",
    ),
    case(
        "source-unsupported-server-type",
        replace(
            SOURCE, SOURCE_SERVERS, "servers:\n  - server: warehouse\n    type: duckdb\n    database: listens.duckdb\n"
        ),
        "domains/podcasts/sources/hosting_listens.odcs.yaml:8:5: error: source server type 'duckdb' is not supported [source-server]",
    ),
    case(
        "source-local-without-format",
        replace(SOURCE, "    format: csv\n", ""),
        "domains/podcasts/sources/hosting_listens.odcs.yaml:7:5: error: not a valid ODCS source contract: servers[0]: missing required field 'format' [odcs-schema]",
    ),
    case(
        "source-id-mismatch",
        replace(SOURCE, "id: podcasts.sources.hosting_listens", "id: podcasts.sources.listens"),
        "domains/podcasts/sources/hosting_listens.odcs.yaml:3:1: error: contract id 'podcasts.sources.listens' does not match its file [contract-id]",
    ),
    # -- resolution ----------------------------------------------------------------------------------------------
    case(
        "input-missing-port",
        replace(
            PAYOUTS,
            "contractId: podcasts.listening_events.listening_events",
            "contractId: podcasts.listening_events.events",
        ),
        "domains/royalties/payouts/product.odps.yaml:13:5: error: input port 'listens' reads port podcasts.listening_events.events, which does not exist [input-unresolved]",
    ),
    case(
        "input-missing-product",
        replace(
            PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: podcasts.episodes.episodes"
        ),
        "domains/royalties/payouts/product.odps.yaml:13:5: error: input port 'listens' reads port podcasts.episodes.episodes, which does not exist [input-unresolved]",
    ),
    case(
        "input-missing-source",
        replace(EVENTS, "contractId: podcasts.sources.hosting_listens", "contractId: podcasts.sources.downloads"),
        "domains/podcasts/listening_events/product.odps.yaml:13:5: error: input port 'hosting_listens' reads source podcasts.sources.downloads, which does not exist [input-unresolved]",
    ),
    case(
        "input-not-an-address",
        replace(
            PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: Podcasts/Listening-Events"
        ),
        "domains/royalties/payouts/product.odps.yaml:13:5: error: input port 'listens' names 'Podcasts/Listening-Events', which is not a port address [input-unresolved]",
    ),
    case(
        "input-missing-contract-id",
        replace(PAYOUTS, "    contractId: podcasts.listening_events.listening_events\n", ""),
        "domains/royalties/payouts/product.odps.yaml:11:5: error: not a valid ODPS data product: inputPorts[0]: missing required field 'contractId' [odps-schema]",
    ),
    case(
        "input-version-out-of-range",
        replace(PAYOUTS, "version: ^1.0.0", "version: ^2.0.0"),
        "domains/royalties/payouts/product.odps.yaml:12:5: error: input port 'listens' wants podcasts.listening_events.listening_events ^2.0.0, but it is at 1.0.0 [version-mismatch]",
    ),
    case(
        "input-unparsable-range",
        replace(PAYOUTS, "version: ^1.0.0", "version: latest-and-greatest"),
        "domains/royalties/payouts/product.odps.yaml:12:5: error: input port 'listens': version range 'latest-and-greatest' is not a semver range [version-range]",
    ),
    case(
        "input-source-version-out-of-range",
        replace(EVENTS, "version: ^1.0.0", "version: '>=1.1.0'"),
        "domains/podcasts/listening_events/product.odps.yaml:12:5: error: input port 'hosting_listens' wants podcasts.sources.hosting_listens >=1.1.0, but it is at 1.0.0 [version-mismatch]",
    ),
    case(
        "input-cycle-across-domains",
        replace(EVENTS, INPUT_FROM_SOURCE, INPUT_FROM_PAYOUTS),
        "domains/podcasts/listening_events/product.odps.yaml:13:5: error: products form a cycle (each reads the next): podcasts.listening_events -> royalties.payouts -> podcasts.listening_events [cycle]",
    ),
    case(
        "input-self-reference",
        replace(
            PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: royalties.payouts.payouts"
        ),
        "domains/royalties/payouts/product.odps.yaml:13:5: error: input port 'listens' reads royalties.payouts.payouts, an output of its own product [cycle]",
    ),
    # -- several problems at once ---------------------------------------------------------------------------------
    case(
        "several-problems",
        chain(
            replace(ROYALTIES_DOMAIN, "owner: royalties-team", "owner: finance-team"),
            replace(EVENTS, "value: public", "value: secret"),
            replace(EVENTS_CONTRACT, "classification: pii", "classification: secret"),
            replace(PAYOUTS, "version: ^1.0.0", "version: ^3.0.0"),
            replace(
                "glossary.yaml", "    title: Listener identifier", "    title: Listener identifier\n    title: again"
            ),
        ),
        "domains/podcasts/listening_events/listening_events.odcs.yaml:17:9: error: unknown classification 'secret' [classification-unknown]",
        "domains/podcasts/listening_events/product.odps.yaml:20:33: error: unknown accessLevel 'secret' [access-level]",
        "domains/royalties/domain.yaml:3:1: error: owner team 'finance-team' is not declared in mesh.yaml [domain-owner]",
        "domains/royalties/payouts/product.odps.yaml:12:5: error: input port 'listens' wants podcasts.listening_events.listening_events ^3.0.0, but it is at 1.0.0 [version-mismatch]",
        "glossary.yaml:4:5: error: duplicate key 'title' (first defined on line 3) [yaml-duplicate-key]",
    ),
]


# -- running ------------------------------------------------------------------------------------------------------


def run_check(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["check", str(root), *args])
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def located_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if LOCATED.match(line)]


def assert_reported(case: Case, code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err
    assert code == 1, err
    assert located_lines(err) == list(case.expected)
    lines = err.splitlines()
    for index, line in enumerate(lines):
        if LOCATED.match(line):
            assert lines[index + 1].startswith("    fix: "), f"no fix for: {line}"
    assert lines[-1].startswith(f"{len(case.expected)} error(s) in ")


def test_base_mesh_checks_clean(base_mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(base_mesh, capsys)
    assert (code, err) == (0, "")
    assert out.strip() == "ok: mesh: 2 products, no errors"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.expected for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_mesh(case: Case, base_mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case.mutate(base_mesh)
    code, out, err = run_check(base_mesh, capsys)
    assert_reported(case, code, out, err)


def test_several_problems_are_all_reported_in_one_run() -> None:
    several = next(c for c in CASES if c.id == "several-problems")
    files = {line.split(":")[0] for line in several.expected}
    assert len(several.expected) == 5 and len(files) == 5


SUBPROCESS_CASES = [
    "yaml-python-tag",
    "yaml-billion-laughs",
    "yaml-very-deep-nesting",
    "yaml-invalid-utf8",
    "input-cycle-across-domains",
    "several-problems",
]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_malformed_mesh_through_the_installed_command(case_id: str, base_mesh: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    case.mutate(base_mesh)
    result = subprocess.run(
        [str(MESHPLANE), "check", str(base_mesh)], capture_output=True, text=True, cwd=base_mesh, timeout=120
    )
    assert_reported(case, result.returncode, result.stdout, result.stderr)
    assert not (base_mesh / "pwned").exists()


def test_json_format_carries_the_same_locations(base_mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c.id == "several-problems")
    case.mutate(base_mesh)
    code, out, _ = run_check(base_mesh, capsys, "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    rendered = [
        f"{p['path']}:{p['line']}:{p['column']}: {p['severity']}: {p['message']} [{p['code']}]"
        for p in report["problems"]
    ]
    assert rendered == list(case.expected)
    assert all(p["fix"] for p in report["problems"])


def test_commands_that_open_a_broken_mesh_report_located_errors(
    base_mesh: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replace(PAYOUTS, "version: ^1.0.0", "version: ^2.0.0")(base_mesh)
    monkeypatch.chdir(base_mesh)
    for argv in (["ls"], ["graph"], ["ls", "ports"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        captured = capsys.readouterr()
        assert exited.value.code == 1
        assert "Traceback" not in captured.out + captured.err
        assert located_lines(captured.err) == [
            f"{PAYOUTS}:12:5: error: input port 'listens' wants podcasts.listening_events.listening_events ^2.0.0, but it is at 1.0.0 [version-mismatch]"
        ]


# -- the error boundary -------------------------------------------------------------------------------------------

_BOOM = """\
import sys
import meshplane.cli.app as app

def boom(path):
    raise RuntimeError("boom")

app.check_mesh = boom
app.main(sys.argv[1:])
"""


def test_internal_error_hides_the_traceback_unless_debug(base_mesh: Path) -> None:
    quiet = subprocess.run(
        [sys.executable, "-c", _BOOM, "check", str(base_mesh)], capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == 3
    assert "Traceback" not in quiet.stdout + quiet.stderr
    assert quiet.stderr.splitlines() == [
        "internal error: RuntimeError: boom",
        "this is a bug in meshplane; rerun with --debug for the traceback",
    ]
    loud = subprocess.run(
        [sys.executable, "-c", _BOOM, "--debug", "check", str(base_mesh)], capture_output=True, text=True, timeout=120
    )
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("RuntimeError: boom")


def test_debug_reraises_in_process(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshplane.cli.app as app

    def boom(path: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "check_mesh", boom)
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "check", str(base_mesh)])


def test_debug_shows_the_traceback_of_a_spec_error(base_mesh: Path) -> None:
    replace(PAYOUTS, "version: ^1.0.0", "version: ^2.0.0")(base_mesh)
    quiet = subprocess.run([str(MESHPLANE), "ls", "-m", str(base_mesh)], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    loud = subprocess.run(
        [str(MESHPLANE), "--debug", "ls", "-m", str(base_mesh)], capture_output=True, text=True, timeout=120
    )
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr and "SpecError" in loud.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "{mesh}", "--format", "xml"], "'xml' is not one of 'text', 'json'"),
        (["ls", "tables", "-m", "{mesh}"], "'tables' is not one of 'products', 'domains', 'ports'"),
        (["ls", "-m", "{mesh}", "--select", "podcast"], "error: no domain named 'podcast'; did you mean 'podcasts'?"),
        (
            ["graph", "-m", "{mesh}", "-s", "+royalties.payout"],
            "error: no product royalties.payout; did you mean 'royalties.payouts'?",
        ),
        (
            ["ls", "ports", "-m", "{mesh}", "-s", "podcasts.listening_events.events+"],
            "error: no port podcasts.listening_events.events; did you mean 'podcasts.listening_events.listening_events'?",
        ),
        (["ls", "-m", "{mesh}", "-s", "Podcasts/X"], "error: selector 'Podcasts/X' is not DOMAIN, DOMAIN.PRODUCT"),
        (["ls", "-m", "{mesh}", "-s", "+"], "error: selector '+' names nothing"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["new", "product", "payouts", "-m", "{mesh}"], "error: 'payouts': write DOMAIN/NAME"),
        (["new", "domain", "Bad-Name", "-m", "{mesh}"], "error: domain name 'Bad-Name' must be lower_snake_case"),
        (["new", "product", "nowhere/thing", "-m", "{mesh}"], "error: no domain 'nowhere'"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, base_mesh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([arg.replace("{mesh}", str(base_mesh)) for arg in argv])
    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert message in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_usage_error_through_the_installed_command(base_mesh: Path) -> None:
    result = subprocess.run(
        [str(MESHPLANE), "check", str(base_mesh), "--format", "xml"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
