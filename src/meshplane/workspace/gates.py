"""The build gate: every check a product must pass before its build may publish.

Gates are taken before the build syncs its specs into the catalog, so they compare with what consumers
see now. Each raises a MeshError naming the product and how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from meshplane.access.principals import acting_user
from meshplane.spec import ProductSpec
from meshplane.types import Address
from meshplane.workspace.access import AccessService
from meshplane.workspace.compatibility import BreakingChanges, breaking_change_gate
from meshplane.workspace.governing import GovernanceService

__all__ = ["Gate", "build_gates"]

Gate = Callable[[ProductSpec], None]


def build_gates(
    access: AccessService,
    governance: GovernanceService,
    breaking: BreakingChanges,
    *,
    as_user: str | None = None,
    extra: Gate | None = None,
    products: Iterable[Address] | None = None,
) -> Gate:
    """Ownership (who may build, unapproved loosening spec changes), breaking changes without a major
    version (``breaking``: the comparison with the published contracts the caller made), build-time
    governance policies (evaluated once, for ``products`` or the whole mesh), then the caller's own gate."""
    gates: list[Gate] = [
        access.build_gate(acting_user(as_user)),
        breaking_change_gate(governance.graph, governance.platform, breaking),
        governance.build_gate(products),
    ]
    if extra is not None:
        gates.append(extra)

    def gate(product: ProductSpec) -> None:
        for check in gates:
            check(product)

    return gate
