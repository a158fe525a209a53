"""The access-level rule: which reads of a port need a grant (or an agreement), and what a refusal says.

Standard library only, so ``meshplane check`` can ask it about a mesh that has no catalog yet without
loading the catalog's database libraries or the SQL parser. :meth:`AccessPolicy.decide
<meshplane.access.policy.AccessPolicy.decide>` asks the same function with the grants it found; check asks
it with none (no catalog, no approved agreement).

- owners (the product's owner team or its domain's owner team) and products of the port's own domain (which
  read under the domain's policies) need nothing;
- ``public``: every reader; ``private``: no one else, grants or not;
- ``restricted``: an active grant (a product's grant is its data usage agreement);
- any other level: no one (fail closed).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

__all__ = ["agreement_command", "read_refusal", "request_hint"]


def request_hint(address: str) -> str:
    return f"request access with: meshplane access request {address} --purpose '...'"


def agreement_command(product: str, address: str, purpose: str | None = None, columns: Iterable[str] = ()) -> str:
    """The exact command that requests a data usage agreement for ``product`` to read the port ``address``
    (with the purpose and columns its input port declares, when it does)."""
    text = f"meshplane agreement request {product} {address} --purpose "
    text += shlex.quote(purpose) if purpose else f"'<why {product} needs it>'"
    names = list(columns)
    return text + (f" --columns {shlex.quote(','.join(names))}" if names else "")


def read_refusal(
    *,
    address: str,
    level: str,
    reader: str,
    product: str | None,
    owner: bool,
    owner_teams: Sequence[str],
    granted: bool,
) -> str | None:
    """Why ``reader`` (the product ``product``'s build, when it is one) may not read the port ``address`` of
    access ``level``, or None when it may; ``granted``: it holds an active grant on the port."""
    same_domain = product is not None and product.split(".")[0] == address.split(".")[0]
    if owner or same_domain:
        return None
    if level == "private":
        return f"{address} is private to the {' and '.join(owner_teams)} team; {reader} may not read it"
    if level == "restricted":
        if granted:
            return None
        if product is not None:
            return (
                f"{product} has no approved agreement to read {address} (restricted); request one with: "
                + agreement_command(product, address)
            )
        return f"{address} is restricted and {reader} has no active grant; " + request_hint(address)
    if level != "public":
        return f"{address} has an unknown access level; access is denied"
    return None
