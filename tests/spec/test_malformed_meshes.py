"""Table-driven malformed meshes: each case breaks the valid base mesh one way and asserts the exact
located line that ``meshplane check`` prints, exit code 1, and that no traceback reaches the user."""

from __future__ import annotations

import os
import re
import shutil
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
    case("yaml-python-tag", replace(ROYALTIES_DOMAIN, "owner: royalties-team", 'owner: !!python/object/apply:os.system ["touch pwned"]')),
    case("yaml-custom-tag", replace(PODCASTS_DOMAIN, "title: Podcasts", "title: !custom Podcasts")),
    case("yaml-billion-laughs", write("glossary.yaml", _billion_laughs())),
    case("yaml-duplicate-key", replace(PODCASTS_DOMAIN, "owner: podcasts-team", "owner: podcasts-team\ntitle: Again")),
    case("yaml-too-large", write("glossary.yaml", "terms: []\n" + "#" * (MAX_FILE_BYTES + 10) + "\n")),
    case("yaml-invalid-utf8", write_bytes(PODCASTS_DOMAIN, b"name: podcasts\ntitle: Pod\xffcasts\nowner: podcasts-team\n")),
    case("yaml-deep-nesting", replace("mesh.yaml", "title: Media", "title: " + "[" * 60 + "]" * 60)),
    case("yaml-very-deep-nesting", replace("mesh.yaml", "title: Media", "title: " + "[" * 10_000 + "]" * 10_000)),
    case("yaml-deep-block-nesting", replace("glossary.yaml", "terms:\n", "extra:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "v: 1\nterms:\n")),
    case("yaml-merge-key", replace("mesh.yaml", "title: Media", "base: &base {title: Media}\n<<: *base")),
    case("yaml-multi-document", write(PODCASTS_DOMAIN, "name: podcasts\nowner: podcasts-team\n---\nname: other\n")),
    case("yaml-syntax-error", replace("mesh.yaml", "title: Media", "title: [Media")),
    case("yaml-bad-indentation", replace(ROYALTIES_DOMAIN, "title: Royalties", "title: Royalties\n  owner: x")),
    case("yaml-top-level-list", write(PODCASTS_DOMAIN, "- name: podcasts\n- owner: podcasts-team\n")),
    case("yaml-empty-file", write(PODCASTS_DOMAIN, "")),
    case("yaml-complex-key", replace(PODCASTS_DOMAIN, "title: Podcasts", "? [a, b]\n: Podcasts")),
    # -- mesh.yaml ---------------------------------------------------------------------------------------------
    case("mesh-missing", delete("mesh.yaml")),
    case("mesh-unknown-key", replace("mesh.yaml", "title: Media", "title: Media\nplatfrom: {engine: duckdb}")),
    case("mesh-bad-name", replace("mesh.yaml", "name: media", "name: Media-Mesh")),
    case("mesh-bad-engine", replace("mesh.yaml", "engine: duckdb", "engine: oracle")),
    case("mesh-undeclared-governance-team", replace("mesh.yaml", "governance_team: governance-guild", "governance_team: governance")),
    case("mesh-duplicate-team", replace("mesh.yaml", "  - name: royalties-team", "  - name: podcasts-team\n    members: []\n  - name: royalties-team")),
    # -- glossary.yaml -----------------------------------------------------------------------------------------
    case("glossary-unknown-field", replace("glossary.yaml", "    logicalType: string", "    logicalTyp: string")),
    case("glossary-bad-term-name", replace("glossary.yaml", "- name: listener_id", "- name: Listener-ID")),
    # -- domain.yaml -------------------------------------------------------------------------------------------
    case("domain-missing", delete(ROYALTIES_DOMAIN)),
    case("domain-name-mismatch", replace(ROYALTIES_DOMAIN, "name: royalties", "name: royalty")),
    case("domain-undeclared-owner", replace(ROYALTIES_DOMAIN, "owner: royalties-team", "owner: finance-team")),
    case("domain-missing-owner", replace(ROYALTIES_DOMAIN, "owner: royalties-team\n", "")),
    # -- product.odps.yaml: the ODPS schema ----------------------------------------------------------------------
    case("odps-unknown-field", replace(PAYOUTS, "status: active", "status: active\nowner: rita")),
    case("odps-wrong-type", replace(PAYOUTS, "status: active", "status: active\ntags: royalties")),
    case("odps-bad-api-version", replace(PAYOUTS, "apiVersion: v1.1.0", "apiVersion: v9.0.0")),
    case("odps-bad-status", replace(PAYOUTS, "status: active", "status: live")),
    case("odps-missing-id", replace(PAYOUTS, "id: royalties.payouts\n", "")),
    case("odps-port-unknown-field", replace(PAYOUTS, "    type: tables", "    type: tables\n    format: parquet")),
    # -- product.odps.yaml: meshplane's rules --------------------------------------------------------------------
    case("product-id-mismatch", replace(PAYOUTS, "id: royalties.payouts", "id: royalties.payout")),
    case("product-domain-mismatch", replace(PAYOUTS, "domain: royalties", "domain: podcasts")),
    case("product-undeclared-team", replace(PAYOUTS, "name: royalties-team", "name: finance-team")),
    case("product-bad-semver", replace(PAYOUTS, "version: 1.0.0", "version: '1.0'")),
    case("product-bad-kind", replace(PAYOUTS, "kind: DataProduct", "kind: DataContract")),
    case("product-no-output-ports", replace(PAYOUTS, PAYOUTS_PORTS, "outputPorts: []\n")),
    case("product-folder-not-snake-case", move("domains/royalties/payouts", "domains/royalties/Payouts")),
    case("port-bad-name", replace(PAYOUTS, "  - name: payouts", "  - name: Payouts")),
    case("port-missing-contract", delete(PAYOUTS_CONTRACT)),
    case("port-orphan-contract", write("domains/royalties/payouts/extra.odcs.yaml", "apiVersion: v3.0.2\n")),
    case("port-missing-transform", delete(PAYOUTS_SQL)),
    case("port-duplicate-transform", write("domains/royalties/payouts/payouts.py", "def transform(**inputs): ...\n")),
    case("port-version-mismatch", replace(PAYOUTS, "    version: 2.1.0", "    version: 2.2.0")),
    case("port-contract-id-mismatch", replace(PAYOUTS, "contractId: royalties.payouts.payouts", "contractId: royalties.payouts.payout")),
    case("port-bad-access-level", replace(EVENTS, "value: restricted", "value: secret")),
    case("product-bad-schedule", replace(EVENTS, '"0 * * * *"', '"every hour"')),
    case("product-bad-engine", replace(EVENTS, "value: duckdb", "value: oracle")),
    case("product-custom-property-twice", replace(EVENTS, "  - {property: engine, value: duckdb}", "  - {property: engine, value: duckdb}\n  - {property: engine, value: spark}")),
    # -- contracts: the ODCS schema ------------------------------------------------------------------------------
    case("odcs-unknown-field", replace(PAYOUTS_CONTRACT, "status: active", "status: active\nowner: rita")),
    case("odcs-wrong-type", replace(PAYOUTS_CONTRACT, "        logicalType: number", "        logicalType: number\n        required: maybe")),
    case("odcs-bad-api-version", replace(PAYOUTS_CONTRACT, "apiVersion: v3.0.2", "apiVersion: v2.0.0")),
    case("odcs-bad-logical-type", replace(PAYOUTS_CONTRACT, "logicalType: number", "logicalType: money")),
    case("odcs-missing-version", replace(PAYOUTS_CONTRACT, "version: 2.1.0\n", "")),
    # -- contracts: meshplane's rules ----------------------------------------------------------------------------
    case("contract-id-mismatch", replace(PAYOUTS_CONTRACT, "id: royalties.payouts.payouts", "id: royalties.payouts.payments")),
    case("contract-bad-semver", chain(replace(PAYOUTS_CONTRACT, "version: 2.1.0", "version: two"), replace(PAYOUTS, "    version: 2.1.0\n", ""))),
    case("contract-two-tables", replace(PAYOUTS_CONTRACT, "  - name: payouts\n", "  - name: other\n    properties: [{name: x, logicalType: string}]\n  - name: payouts\n")),
    case("contract-no-columns", replace(PAYOUTS_CONTRACT, PAYOUTS_COLUMNS, "")),
    case("column-duplicate", replace(PAYOUTS_CONTRACT, "      - name: amount", "      - name: listener_id")),
    case("column-bad-name", replace(PAYOUTS_CONTRACT, "      - name: amount", "      - name: AmountEUR")),
    case("column-unknown-classification", replace(EVENTS_CONTRACT, "classification: pii", "classification: secret")),
    case("column-unknown-mask", replace(EVENTS_CONTRACT, "value: hash", "value: scramble")),
    case("column-bad-glossary-ref", replace(EVENTS_CONTRACT, "glossary:listener_id", "glossary:listener_key")),
    # -- sources -------------------------------------------------------------------------------------------------
    case("source-no-servers", replace(SOURCE, SOURCE_SERVERS, "")),
    case("source-bad-server-type", replace(SOURCE, "type: local", "type: s3")),
    case("source-local-without-format", replace(SOURCE, "    format: csv\n", "")),
    case("source-id-mismatch", replace(SOURCE, "id: podcasts.sources.hosting_listens", "id: podcasts.sources.listens")),
    # -- resolution ----------------------------------------------------------------------------------------------
    case("input-missing-port", replace(PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: podcasts.listening_events.events")),
    case("input-missing-product", replace(PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: podcasts.episodes.episodes")),
    case("input-missing-source", replace(EVENTS, "contractId: podcasts.sources.hosting_listens", "contractId: podcasts.sources.downloads")),
    case("input-not-an-address", replace(PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: Podcasts/Listening-Events")),
    case("input-missing-contract-id", replace(PAYOUTS, "    contractId: podcasts.listening_events.listening_events\n", "")),
    case("input-version-out-of-range", replace(PAYOUTS, "version: ^1.0.0", "version: ^2.0.0")),
    case("input-unparsable-range", replace(PAYOUTS, "version: ^1.0.0", "version: latest-and-greatest")),
    case("input-source-version-out-of-range", replace(EVENTS, "version: ^1.0.0", "version: '>=1.1.0'")),
    case("input-cycle-across-domains", replace(EVENTS, INPUT_FROM_SOURCE, INPUT_FROM_PAYOUTS)),
    case("input-self-reference", replace(PAYOUTS, "contractId: podcasts.listening_events.listening_events", "contractId: royalties.payouts.payouts")),
    # -- several problems at once ---------------------------------------------------------------------------------
    case("several-problems", chain(
        replace(ROYALTIES_DOMAIN, "owner: royalties-team", "owner: finance-team"),
        replace(EVENTS, "value: restricted", "value: secret"),
        replace(EVENTS_CONTRACT, "classification: pii", "classification: secret"),
        replace(PAYOUTS, "version: ^1.0.0", "version: ^3.0.0"),
        replace("glossary.yaml", "title: Listener identifier", "title: Listener identifier\ntitle: again"),
    )),
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
