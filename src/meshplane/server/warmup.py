"""The server's start-up work: what the first request of each page would otherwise pay, done once before the
server takes requests (the app's lifespan), timed step by step and logged as one ``server_warm_up`` event.

At 10,000 products a first request used to pay seconds: FastAPI's models of every route, the column lineage and
join keys of every transform (sqlglot), the ownership facts in force of every product, the product lineage
index, the home and governance pages' mesh-wide summaries, the catalog statements of a product page, compiling
the page templates, importing pyarrow and starting the governed-query child process. What changes later (a
build, a sync, an approval) is recomputed through each cache's own stamp, as before.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.routing import NoMatchFound

from meshplane.errors import MeshError
from meshplane.lineage import product_edges
from meshplane.lineage.columns import index_walks
from meshplane.server.profile_pages import compliance_context
from meshplane.workspace.access import warm_up_queries
from meshplane.workspace.discovery import DiscoveryService
from meshplane.workspace.exploring import glossary_view
from meshplane.workspace.logs import log_event

__all__ = ["warm_up"]

log = logging.getLogger(__name__)


def _templates() -> None:
    from meshplane.server.portal import templates

    env = templates.env
    for name in env.list_templates(extensions=["html", "svg"]):
        env.get_template(name)


def _routes(app: FastAPI) -> None:
    """FastAPI builds each included route's dependency and parameter models on first use, so the first request
    through the app built all of them (tenths of a second); looking up a route by a name no route has builds
    them now."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for("meshplane-start-up")


def _product_page(service: DiscoveryService) -> None:
    """One product's page views, so the catalog statements every product page runs are compiled."""
    first = next(iter(sorted(service.graph.products)), None)
    if first is not None:
        service.product_page(str(first))
        service.profile_view(str(first))


def warm_up(app: FastAPI) -> dict[str, float]:
    """Do each start-up step; returns (and keeps in ``app.state.warm_up``) milliseconds per step. A step
    that fails is logged and left to the first request that needs it (which then reports the error)."""
    service: DiscoveryService = app.state.discovery
    mesh: Any = app.state.mesh
    steps: list[tuple[str, Callable[[], object]]] = [
        ("query process", lambda: warm_up_queries(getattr(mesh.access, "limits", None))),  # starts in background
        ("routes", lambda: _routes(app)),
        ("catalog", lambda: service.reader.search_version()),
        ("column lineage", lambda: index_walks(service.column_edges)),
        ("join keys", lambda: glossary_view(service)),
        ("product lineage", lambda: product_edges(service.graph)),
        ("ownership facts", service.authority.prepare),
        ("home summary", service.overview),
        ("governance", lambda: (service.governance(), compliance_context(service))),
        ("product page", lambda: _product_page(service)),
        ("templates", _templates),
        ("pyarrow", lambda: importlib.import_module("pyarrow")),
    ]
    timings: dict[str, float] = {}
    for name, step in steps:
        started = time.perf_counter()
        try:
            step()
        except (MeshError, OSError, ImportError) as error:
            log.warning("start-up step %s skipped: %s", name, error)
        timings[name] = round(1000 * (time.perf_counter() - started), 1)
    app.state.warm_up = timings
    log_event("server_warm_up", ms=round(sum(timings.values()), 1), steps=timings)
    return timings
