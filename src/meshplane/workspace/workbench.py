"""The portal's workbench: what a person may query (the SQL editor's schema browser and completion), their query
history and saved queries, and the annotations owners write on their products.

The schema comes from :meth:`AccessDecisions.browsable_ports`: the access decision a query gets, port by port
(ungranted columns absent, masked columns marked with their mask), without running the engine. The editor page
itself lists only the domains (catalog counts); a domain's ports are decided when the person opens it, completion
decides only ports matching what was typed (a bounded number), so the page stays quick however many ports the
mesh has. Who may annotate a product is asked of the access authority (its owners).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshplane.catalog.workbench import Annotation, HistoryEntry, SavedQuery
from meshplane.errors import AccessDenied, UsageError
from meshplane.types import Principal

if TYPE_CHECKING:
    from meshplane.catalog.workbench import WorkbenchStore
    from meshplane.workspace.access import AccessService

__all__ = ["COMPLETIONS", "MAX_TAGS", "BrowserDomain", "BrowserPort", "Workbench"]

SCHEMA_TTL_S = 30.0  # a new grant shows in the editor within this time (the page says so)
MAX_NAME = 100
MAX_SQL = 100_000
MAX_DESCRIPTION = 4_000
MAX_TAGS = 20
COMPLETIONS = 50  # ports one completion request answers at most


@dataclass(frozen=True, slots=True)
class BrowserDomain:
    """A domain in the editor's schema browser before it is opened: catalog counts, nothing decided yet."""

    name: str
    title: str
    products: int
    ports: int


@dataclass(frozen=True, slots=True)
class BrowserPort:
    """A port in the editor's schema browser: its address and the columns the person may see, with types."""

    address: str
    description: str
    columns: tuple[tuple[str, str], ...]  # (name, contract type or "masked (KIND)")

    @property
    def domain(self) -> str:
        return self.address.split(".")[0]

    @property
    def product(self) -> str:
        return ".".join(self.address.split(".")[:2])


class Workbench:
    """One per opened mesh; thread-safe."""

    def __init__(self, store: WorkbenchStore, access: AccessService) -> None:
        self.store = store
        self.access = access
        self._lock = threading.Lock()
        # (user, domain) -> (expiry, the user's access stamp then, the domain's ports that user may read)
        self._schemas: dict[tuple[str, str], tuple[float, tuple[object, ...], tuple[BrowserPort, ...]]] = {}

    # --- the schema browser ------------------------------------------------------------------------

    def domains(self) -> list[BrowserDomain]:
        """Every domain with how many products and ports the catalog holds: catalog reads, no access decision
        (the editor page lists these; a domain's readable ports are decided when it is opened)."""
        reader = self.access.catalog.reader
        counts = reader.port_counts()
        return [BrowserDomain(d.name, d.title, *counts.get(d.name, (0, 0))) for d in reader.domains()]

    def domain_schema(self, principal: Principal, domain: str) -> tuple[BrowserPort, ...]:
        """The ports of ``domain`` that ``principal`` may query now and their visible columns (cached for a few
        seconds per person and domain): the access decision for that domain's ports only."""
        cached = self._cached(principal, domain)
        if cached is not None:
            return cached
        stamp = self._stamp(principal)
        found = self.access.browsable_ports(principal.username, prefix=f"{domain}.")
        ports = tuple(BrowserPort(*p) for p in found)
        with self._lock:
            if len(self._schemas) > 10_000:
                self._schemas.clear()
            self._schemas[principal.username, domain] = (time.monotonic() + SCHEMA_TTL_S, stamp, ports)
        return ports

    def _stamp(self, principal: Principal) -> tuple[object, ...]:
        """Changes when a grant of ``principal`` is made or revoked: a cached decision is then taken again."""
        return self.access.catalog.reader.access_version(principal.username, ())

    def _cached(self, principal: Principal, domain: str) -> tuple[BrowserPort, ...] | None:
        with self._lock:
            hit = self._schemas.get((principal.username, domain))
        if hit is None or hit[0] <= time.monotonic() or hit[1] != self._stamp(principal):
            return None
        return hit[2]

    def named_ports(self, principal: Principal, address: str) -> list[BrowserPort]:
        """The ports a query's ``FROM a.b.c`` or ``FROM a.b`` names (a port, or a product's ports) as the browser
        shows them to ``principal``; those they may not read are absent. Decided for those ports alone, unless
        their domain was opened a moment ago."""
        if "." not in address:
            return []  # a domain is not a relation a query can name

        def named(port: BrowserPort) -> bool:
            return port.address == address or port.address.startswith(f"{address}.")

        cached = self._cached(principal, address.split(".", 1)[0])
        if cached is not None:
            return [p for p in cached if named(p)]
        found = (BrowserPort(*p) for p in self.access.browsable_ports(principal.username, prefix=address))
        return [p for p in found if named(p)]

    def complete(self, principal: Principal, prefix: str, *, limit: int = COMPLETIONS) -> list[BrowserPort]:
        """Up to ``limit`` ports ``principal`` may query whose address starts with ``prefix``, which names a domain
        (``podcasts.cat``; completion of product and port names): decided only for ports matching the prefix, and
        only until ``limit`` are found.
        A domain opened in the browser a moment ago answers from its cached decisions."""
        domain, dot, _ = prefix.partition(".")
        if not dot:
            return []  # until a domain is named every port would match: the page lists the domains instead
        cached = self._cached(principal, domain)
        if cached is not None:
            return [p for p in cached if p.address.startswith(prefix)][:limit]
        found = self.access.browsable_ports(principal.username, prefix=prefix, limit=limit)
        return [BrowserPort(*p) for p in found]

    def forget_schema(self, principal: Principal | None = None) -> None:
        """Drop cached schemas (after a grant changed): one person's, or everyone's."""
        with self._lock:
            if principal is None:
                self._schemas.clear()
            else:
                for key in [k for k in self._schemas if k[0] == principal.username]:
                    del self._schemas[key]

    # --- history and saved queries -----------------------------------------------------------------

    def record(self, principal: Principal, sql: str, *, rows: int | None, duration_ms: float | None,
               error: str | None = None) -> None:  # fmt: skip
        self.store.record(principal.username, sql[:MAX_SQL], rows=rows, duration_ms=duration_ms, error=error)

    def history(self, principal: Principal, *, limit: int = 50) -> list[HistoryEntry]:
        return self.store.history(principal.username, limit=limit)

    def clear_history(self, principal: Principal) -> int:
        return self.store.clear_history(principal.username)

    def save(self, principal: Principal, name: str, sql: str) -> SavedQuery:
        name, sql = name.strip(), sql.strip()
        if not name or len(name) > MAX_NAME:
            raise UsageError(f"name the query (1 to {MAX_NAME} characters)")
        if not sql or len(sql) > MAX_SQL:
            raise UsageError(f"a saved query holds 1 to {MAX_SQL:,} characters of SQL")
        return self.store.save(principal.username, name, sql)

    def saved(self, principal: Principal) -> list[SavedQuery]:
        return self.store.saved(principal.username)

    def delete_saved(self, principal: Principal, query_id: str) -> None:
        if not self.store.delete_saved(principal.username, query_id):
            raise UsageError(f"you have no saved query {query_id}")

    # --- annotations -------------------------------------------------------------------------------

    def annotations(self, product: str) -> dict[str, Annotation]:
        return {a.field: a for a in self.store.annotations(product)}

    def annotate(self, principal: Principal, product: str, *, description: str | None = None,
                 tags: Sequence[str] | None = None) -> None:  # fmt: skip
        """Set a product's annotated description and/or tags (empty: remove the annotation): its owners, and the
        governance team (stewards curate descriptions)."""
        authority = self.access.authority
        if not (authority.owns(principal, product) or principal.is_governance):
            teams = ", ".join(authority.owner_teams(product))
            raise AccessDenied(f"only the owner teams of {product} ({teams}) may annotate it")
        if description is not None:
            text = description.strip()
            if len(text) > MAX_DESCRIPTION:
                raise UsageError(f"the description is longer than {MAX_DESCRIPTION:,} characters")
            self.store.annotate(product, "description", text or None, principal.username)
        if tags is not None:
            cleaned = list(dict.fromkeys(t.strip().lstrip("#") for t in tags if t.strip().lstrip("#")))
            bad = [t for t in cleaned if len(t) > 50 or any(c.isspace() for c in t)]
            if bad or len(cleaned) > MAX_TAGS:
                raise UsageError(f"tags are single words of at most 50 characters, at most {MAX_TAGS}; "
                                 f"change: {', '.join(bad) or 'the number of tags'}")  # fmt: skip
            self.store.annotate(product, "tags", cleaned or None, principal.username)
