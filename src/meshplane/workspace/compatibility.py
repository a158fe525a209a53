"""Compatibility: each contract's changes against what consumers see, and the breaking-change gate.

:meth:`CompatibilityService.diff` classifies every change of a port contract (:mod:`meshplane.graph.diff`)
against the published contract (the catalog's copy) or a git revision, with the downstream products and the
grantees each breaking change hits. A breaking change without a new major version is a located error in
`meshplane check` and blocks the product's build; `meshplane publish` refuses it, so the catalog keeps the
last compatible contract as the baseline.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import semver
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.contracts.interop import load_contract
from meshplane.errors import CatalogError, ContractViolation, MeshError, UsageError
from meshplane.graph import MeshGraph
from meshplane.graph.diff import Change, ChangeKind, diff_contracts, requires_major_bump
from meshplane.spec import OutputPortSpec, ProductSpec
from meshplane.types import Address, Problem, Severity
from meshplane.workspace.loading import check_mesh
from meshplane.workspace.platform import Platform, has_catalog

__all__ = [
    "DEPRECATION_PROPERTY",
    "BreakingChanges",
    "ChangeImpact",
    "CompatibilityService",
    "PortDiff",
    "assert_no_unversioned_breaking_changes",
    "breaking_change_gate",
    "breaking_change_problems",
    "json_safe",
    "next_major",
    "path_keys",
    "ports_of",
    "unversioned_breaking_changes",
]  # fmt: skip

DEPRECATION_PROPERTY = "deprecationDate"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # engines return HUGEINT counts and DECIMAL sums as Decimal
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def json_safe(value: Any) -> Any:
    """Catalog JSON as plain JSON types (Decimals from the engines become numbers)."""
    return json.loads(json.dumps(value, default=_plain))


@dataclass(frozen=True)
class ChangeImpact:
    change: Change
    products: tuple[str, ...] = ()  # downstream products (direct consumers first, then transitive)
    consumers: tuple[str, ...] = ()  # grantees with an active grant on the port (and the column)


@dataclass(frozen=True)
class PortDiff:
    port: Address
    against: str
    new_version: str
    old_version: str | None = None  # None: the port was never published (or is new at the ref)
    changes: tuple[ChangeImpact, ...] = ()
    needs_major: bool = False
    error: str | None = None

    @property
    def breaking(self) -> tuple[ChangeImpact, ...]:
        return tuple(c for c in self.changes if c.change.kind is ChangeKind.BREAKING)

    def as_json(self) -> dict[str, Any]:
        return {
            "port": str(self.port),
            "against": self.against,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "needs_major_bump": self.needs_major,
            "error": self.error,
            "changes": [
                {
                    "kind": c.change.kind.value,
                    "code": c.change.code,
                    "path": c.change.path,
                    "message": c.change.message,
                    "products": list(c.products),
                    "consumers": list(c.consumers),
                }
                for c in self.changes
            ],
        }


def next_major(version: str) -> str:
    parsed = semver.Version.parse(version)
    return str(parsed.bump_minor() if parsed.major == 0 else parsed.bump_major())


_PATH_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def path_keys(path: str) -> tuple[str | int, ...]:
    """``schema[0].properties[3].required`` -> ``("schema", 0, "properties", 3, "required")``."""
    return tuple(name if name else int(index) for name, index in _PATH_TOKEN.findall(path))


def _change_column(change: Change, old: OpenDataContractStandard, new: OpenDataContractStandard) -> str | None:
    keys = path_keys(change.path)
    if len(keys) < 4 or keys[0] != "schema" or keys[2] != "properties":
        return None
    source = old if change.code in ("column_removed", "column_renamed") else new
    try:
        return (source.schema_ or [])[int(keys[1])].properties[int(keys[3])].name  # type: ignore[index]
    except (IndexError, TypeError):
        return None


def ports_of(graph: MeshGraph, products: Iterable[Address]) -> list[tuple[Address, OutputPortSpec]]:
    """The output ports of ``products``, in address order."""
    chosen = set(products)
    return [(a, spec) for a, spec in sorted(graph.ports.items()) if a.product_address in chosen]


@dataclass
class CompatibilityService:
    graph: MeshGraph
    platform: Platform

    def diff(self, products: Sequence[Address], *, against: str = "published") -> list[PortDiff]:
        """Each port's contract against its published version (the catalog's copy) or a git revision."""
        if against != "published":
            _verify_ref(self.graph.spec.root, against)
        chosen = ports_of(self.graph, products)
        # Every published contract in one read (a build compares the whole mesh's ports before it starts).
        published = (
            self.platform.catalog.reader.port_contracts(str(a) for a, _ in chosen) if against == "published" else None
        )
        return [self._diff_port(address, spec, against, published) for address, spec in chosen]

    def _baseline(
        self, address: Address, spec: OutputPortSpec, against: str, published: Mapping[str, Mapping[str, Any]] | None
    ) -> OpenDataContractStandard | None:
        if against == "published":
            contract = published.get(str(address)) if published is not None else None
            if not contract:
                return None
            return OpenDataContractStandard.model_validate(json_safe(dict(contract)))
        shown = subprocess.run(
            ["git", "show", f"{against}:./{spec.contract.path.name}"],
            cwd=spec.contract.path.parent,
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode != 0:
            return None  # the file did not exist at that revision: a new port
        return load_contract(shown.stdout, source=spec.contract.path, validate=False)

    def _diff_port(
        self, address: Address, spec: OutputPortSpec, against: str, published: Mapping[str, Mapping[str, Any]] | None
    ) -> PortDiff:
        new = spec.contract.odcs
        if published is not None:
            contract = published.get(str(address))
            # The catalog's copy came back from a JSON column: plain JSON already; the YAML's may hold dates.
            if contract and dict(contract) == json_safe(dict(spec.contract.raw)):
                return PortDiff(address, against, new.version or "", new.version)  # the published document itself
        try:
            old = self._baseline(address, spec, against, published)
        except (MeshError, ValueError) as error:
            return PortDiff(
                address, against, spec.contract.version, error=f"cannot read the {against} contract: {error}"
            )
        if old is None:
            return PortDiff(address, against, spec.contract.version)
        diff = diff_contracts(old, new)
        try:
            needs = requires_major_bump(diff, old.version or "0.0.0", new.version or "0.0.0")
        except ValueError:
            needs = diff.is_breaking
        direct = sorted({e.consumer for e in self.graph.consumers_of_port(address)})
        transitive = sorted(self.graph.closure(direct, upstream=False) - set(direct))
        grants = self.platform.catalog.reader.grants(port=str(address)) if diff.is_breaking else []
        lineage = self.platform.catalog.reader.column_lineage(port=str(address)) if diff.is_breaking else []
        impacts: list[ChangeImpact] = []
        for change in diff.changes:
            if change.kind is not ChangeKind.BREAKING:
                impacts.append(ChangeImpact(change))
                continue
            column = _change_column(change, old, new)
            hit = direct
            uses = {
                Address.parse(e.downstream_port).product_address
                for e in lineage
                if e.upstream_port == str(address) and e.upstream_column == column
            }
            if column and lineage and uses:
                hit = [p for p in direct if p in uses]
            users = sorted({g.grantee for g in grants if not g.columns or column is None or column in g.columns})
            impacts.append(ChangeImpact(change, tuple(str(p) for p in [*hit, *transitive]), tuple(users)))
        return PortDiff(address, against, new.version or "", old.version, tuple(impacts), needs)


def _verify_ref(root: Path, ref: str) -> None:
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"--against {ref}: not a git revision of {root} (use a branch, tag or commit, or 'published')")


# --- the breaking-change gate ----------------------------------------------------------------------


BreakingChanges = dict[Address, list[Problem]]  # product -> its ports' unversioned breaking changes


def _problems(graph: MeshGraph, diffs: Iterable[PortDiff]) -> BreakingChanges:
    problems: BreakingChanges = {}
    for d in diffs:
        if not d.needs_major or d.old_version is None:
            continue
        spec = graph.ports[d.port]
        try:
            bump = next_major(d.old_version)
        except ValueError:
            bump = "a new major version"
        for impact in d.breaking:
            hits = ", ".join(impact.products + impact.consumers) or "no known consumers"
            problems.setdefault(d.port.product_address, []).append(Problem(
                spec.contract.location(*path_keys(impact.change.path)),
                f"{d.port}: breaking change without a new major version ({d.old_version} -> {d.new_version}): "
                f"{impact.change.message}; hits {hits}",
                hint=f"set version: {bump} in {spec.contract.path.name} and the output port in product.odps.yaml "
                     f"(the old major stays published until its {DEPRECATION_PROPERTY}), or undo the change",
                code="breaking-change"))  # fmt: skip
    return problems


def breaking_change_problems(mesh_path: str | Path, graph: MeshGraph | None = None) -> list[Problem]:
    """Located errors for every breaking contract change without a major bump, against the catalog."""
    if graph is None:
        graph = check_mesh(mesh_path).graph
        if graph is None:
            return []
    if not has_catalog(graph.spec):
        return []
    platform = Platform(graph.spec)
    try:
        return [p for found in unversioned_breaking_changes(graph, platform).values() for p in found]
    except CatalogError as error:
        return [
            Problem(
                graph.spec.config_document.locate(()),
                f"cannot compare contracts with the catalog: {error}",
                code="breaking-change-unchecked",
                severity=Severity.WARNING,
            )
        ]
    finally:
        platform.close()


def assert_no_unversioned_breaking_changes(
    graph: MeshGraph, platform: Platform, product: ProductSpec | Address | None = None
) -> None:
    """Raise ContractViolation when a port (of ``product``, or of any) breaks without a major bump.

    Compare before ``Mesh.publish`` syncs the specs: the catalog's copy is the baseline."""
    chosen = None if product is None else [product if isinstance(product, Address) else product.address]
    problems = [p for found in unversioned_breaking_changes(graph, platform, chosen).values() for p in found]
    if problems:
        raise ContractViolation(
            f"{len(problems)} breaking contract change(s) without a new major version",
            [p.render(graph.spec.root) for p in problems],
        )


def unversioned_breaking_changes(
    graph: MeshGraph, platform: Platform, products: Iterable[Address] | None = None
) -> BreakingChanges:
    """Each product's breaking port-contract changes without a major bump, against the published contracts."""
    return breaking_problems(graph, published_diffs(graph, platform, products))


def published_diffs(graph: MeshGraph, platform: Platform, products: Iterable[Address] | None = None) -> list[PortDiff]:
    """Each port's contract against the one the catalog published (all products unless ``products``)."""
    chosen = list(graph.products) if products is None else list(products)
    return CompatibilityService(graph, platform).diff(chosen)


def breaking_problems(graph: MeshGraph, diffs: Iterable[PortDiff]) -> BreakingChanges:
    """The located problems of the breaking changes in ``diffs`` that lack a major version bump."""
    return _problems(graph, diffs)


def breaking_change_gate(
    graph: MeshGraph, platform: Platform, changes: BreakingChanges | None = None
) -> Callable[[ProductSpec], None]:
    """A build gate over the contracts published NOW (take it before publish syncs); ``changes`` reuses a
    comparison the caller already made."""
    problems = unversioned_breaking_changes(graph, platform) if changes is None else changes

    def gate(product: ProductSpec) -> None:
        mine = problems.get(product.address, [])
        if mine:  # each change once, in words, where it is and how to fix it
            raise ContractViolation("\n".join(p.render(graph.spec.root) for p in mine))

    return gate
