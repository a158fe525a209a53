"""A notification: what happened, to whom it matters, and the details a receiver needs to act."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meshplane.graph import MeshGraph
from meshplane.types import Address, EventKind

__all__ = ["Notification", "product_audience", "team", "user"]


def user(name: str) -> str:
    return f"user:{name}"


def team(name: str) -> str:
    return f"team:{name}"


def product(address: Address | str) -> str:
    return f"product:{address}"


@dataclass(frozen=True)
class Notification:
    """``audience`` holds principals (``user:raj``, ``team:royalties-team``, ``product:royalties.payouts``);
    a subscription of any of them receives it, and it shows in the inbox of every user it reaches."""

    kind: EventKind
    subject: str  # the port, product or request it is about
    title: str  # one line a person reads
    audience: frozenset[str]
    details: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None  # the same key is stored once (time-based reminders, repeated builds)

    def payload(self, mesh: str) -> dict[str, Any]:
        """The JSON body a webhook receives (and the inbox shows)."""
        return {
            "mesh": mesh,
            "kind": self.kind.value,
            "subject": self.subject,
            "title": self.title,
            "audience": sorted(self.audience),
            "details": dict(self.details),
        }


def product_audience(graph: MeshGraph, products: Iterable[Address]) -> set[str]:
    """Each product and its owner team."""
    found: set[str] = set()
    for address in products:
        spec = graph.products.get(address.product_address)
        if spec is not None:
            found |= {product(spec.address), team(spec.team)}
    return found
