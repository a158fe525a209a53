"""Isolation: a spec error in one domain blocks only that domain and the products that read it.

A problem located in a file under ``domains/<d>/`` belongs to domain ``d``; any other error (``mesh.yaml``,
``glossary.yaml``, global policies) belongs to the whole mesh and blocks everything, as before. The healthy
rest of the mesh is resolved on its own, so ``plan``, ``build``, ``test`` and ``diff`` of unrelated domains go
on while one domain's files are broken (in a monorepo, and in a domain repository reading other domains'
published ports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from meshplane.graph import MeshGraph, resolve
from meshplane.spec import MeshSpec
from meshplane.types import Address, Problem, Severity

__all__ = ["Isolation", "domain_of_problem", "isolate"]


@dataclass(frozen=True)
class Isolation:
    """The healthy part of a mesh, and what is blocked: a domain or a product address, with why."""

    graph: MeshGraph
    blocked: Mapping[str, tuple[Problem, ...]]

    def blocking(self, domain: str, product: Address | None = None) -> tuple[Problem, ...]:
        """The problems that block ``domain`` (or ``product`` in it); empty when it is healthy."""
        found = self.blocked.get(domain, ())
        if not found and product is not None:
            found = self.blocked.get(str(product), ())
        return found


def domain_of_problem(root: Path, problem: Problem) -> str | None:
    """The domain whose files hold ``problem`` (None: a mesh-wide file)."""
    path = problem.location.path
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return None
    if len(parts) >= 3 and parts[0] == "domains":
        return parts[1]
    if len(parts) >= 5 and parts[:3] == (".meshplane", "platform", "domains"):
        return parts[3]  # a domain repository's copy of another repository's published domain
    return None


def isolate(spec: MeshSpec, problems: list[Problem]) -> Isolation | None:
    """The healthy rest of ``spec`` when every error belongs to some domain; None when one is mesh-wide
    (or the rest does not resolve cleanly on its own)."""
    by_domain: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.severity is not Severity.ERROR:
            continue
        domain = domain_of_problem(spec.root, problem)
        if domain is None:
            return None
        by_domain.setdefault(domain, []).append(problem)
    blocked: dict[str, tuple[Problem, ...]] = {d: tuple(p) for d, p in by_domain.items()}
    # Products reading a blocked domain (or a blocked product), transitively, are blocked too.
    products = {p.address: p for p in spec.products if p.domain not in blocked}
    changed = True
    while changed:
        changed = False
        for address, product in list(products.items()):
            for port in product.input_ports:
                upstream = port.contract_id.split(".")
                reason = _blocked_reason(blocked, upstream)
                if reason is None:
                    continue
                blocked[str(address)] = (
                    Problem(
                        port.location("contractId"),
                        f"{address} is blocked: it reads {port.contract_id}, and {reason} has spec errors",
                        f"fix {reason}'s files first (meshplane check lists them)",
                        code="blocked-upstream",
                    ),
                )
                del products[address]
                changed = True
                break
    healthy = replace(
        spec,
        domains=tuple(d for d in spec.domains if d.name not in blocked),
        products=tuple(products.values()),
        sources=tuple(s for s in spec.sources if s.id.split(".")[0] not in blocked),
    )
    graph, rest = resolve(healthy)
    if graph is None or any(p.severity is Severity.ERROR for p in rest):
        return None
    return Isolation(graph, blocked)


def _blocked_reason(blocked: Mapping[str, tuple[Problem, ...]], upstream: list[str]) -> str | None:
    if upstream and upstream[0] in blocked:
        return f"domain {upstream[0]}"
    if len(upstream) >= 2 and ".".join(upstream[:2]) in blocked:
        return ".".join(upstream[:2])
    return None
