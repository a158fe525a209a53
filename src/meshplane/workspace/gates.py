"""The build gate: every check a product must pass before its build may publish.

Gates are taken before the build syncs its specs into the catalog, so they compare with what consumers
see now. Each raises a MeshError naming the product and how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from meshplane.spec import ProductSpec
from meshplane.types import Address

if TYPE_CHECKING:
    from meshplane.workspace.compatibility import BreakingChanges
    from meshplane.workspace.mesh import Mesh

__all__ = ["Gate", "build_gates"]

Gate = Callable[[ProductSpec], None]


def build_gates(
    mesh: Mesh,
    *,
    as_user: str | None = None,
    extra: Gate | None = None,
    products: Iterable[Address] | None = None,
    breaking: BreakingChanges | None = None,
) -> Gate:
    """Ownership (who may build, unapproved loosening spec changes), breaking changes without a major
    version, build-time governance policies (evaluated once, for ``products`` or the whole mesh), then the
    caller's own gate. ``breaking`` reuses a contract comparison the caller already made."""
    from meshplane.access.principals import acting_user
    from meshplane.workspace.compatibility import breaking_change_gate
    from meshplane.workspace.governing import GovernanceService

    gates: list[Gate] = [
        mesh.access.build_gate(acting_user(as_user)),
        breaking_change_gate(mesh.graph, mesh.platform, breaking),
        GovernanceService(mesh.graph, mesh.platform).build_gate(products),
    ]
    if extra is not None:
        gates.append(extra)

    def gate(product: ProductSpec) -> None:
        for check in gates:
            check(product)

    return gate
