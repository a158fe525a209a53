"""The MCP server: tools and resources over the workspace facade, acting as one user.

Every tool calls the same facade entry point as the CLI command that does the same thing (``search``,
``product show``, ``access grants``, ``access request``, ``query``), as the acting user, so an agent can
do nothing its user could not do from a terminal. Samples and query results come from the governed
gateway (masks, row filters, grants, audit); a refusal comes back as the tool's error, with the command
that asks for access.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from meshplane.errors import MeshError
from meshplane.sql import render

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from meshplane.workspace import Mesh

__all__ = ["build_server", "plain"]

SAMPLE_ROWS = 5
MAX_ROWS = 500


def plain(value: Any) -> Any:
    """JSON-ready: dataclasses, mappings, enums, dates and decimals as plain values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) or (hasattr(value, "items") and callable(value.items)):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "value") and type(value).__module__ != "builtins" and hasattr(type(value), "__members__"):
        return value.value
    return value


def _rows(table: Any, limit: int) -> list[dict[str, Any]]:
    return [plain(row) for row in table.slice(0, limit).to_pylist()]


def build_server(mesh: Mesh, user: Callable[[], str]) -> MCPServer:
    """An MCP server over ``mesh``; ``user()`` names the acting user of the current request."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError
    except ImportError:  # pragma: no cover - the optional dependency
        raise MeshError('the MCP server needs the MCP SDK; run: pip install "meshplane[mcp]"') from None

    server = MCPServer(
        "meshplane",
        instructions=(
            f"The {mesh.name} data mesh. Search data products, describe them, request access with a purpose, "
            "and run governed SQL (DuckDB dialect; name ports as domain.product.port). You act as one user: "
            "masks, row filters and grants apply, and every query is audited."
        ),
    )

    def refusals(function: Callable[..., Any]) -> Callable[..., Any]:
        """A mesh error (a refusal, a bad address) is the tool's error message for the agent to read."""

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except MeshError as error:
                raise ToolError(str(error)) from None

        return call

    def principal() -> Any:
        found = mesh.discovery.principal(user())
        if found is None:
            raise MeshError(f"{user()} is not a user of this mesh")
        return found

    @server.tool()
    @refusals
    def search_products(text: str, limit: int = 10) -> list[dict[str, Any]]:
        """Search products, ports, columns and glossary terms (the same ranking as `meshplane search`)."""
        results = mesh.discovery.search(text, limit=max(1, min(limit, 50)))
        return [plain(hit) for hit in results.hits]

    @server.tool()
    @refusals
    def describe_product(address: str) -> dict[str, Any]:
        """A product: description, owner, ports with their contracts, SLO status, lineage, and sample rows of
        each port as you may see them (masked and filtered; a port you may not read says how to ask)."""
        page = mesh.discovery.product_page_for(principal(), address)
        described: dict[str, Any] = {
            "product": plain(page.product),
            "team": plain(page.team),
            "health": plain(page.health),
            "slo": plain(page.slo),
            "lineage": plain(page.lineage),
            "ports": [],
        }
        for port in mesh.platform.catalog.reader.ports(product=page.product.address):
            entry: dict[str, Any] = {"address": port.address, "version": port.version,
                                     "access_level": port.access_level, "contract": plain(port.contract)}  # fmt: skip
            try:
                select = exp.select(exp.Star()).from_(exp.to_table(port.address)).limit(SAMPLE_ROWS)
                sample = mesh.access.query(user(), render(select))
                entry["sample_rows"] = _rows(sample.table, SAMPLE_ROWS)
            except MeshError as error:
                entry["sample_rows"] = []
                entry["sample_refused"] = str(error)
            described["ports"].append(entry)
        return described

    @server.tool()
    @refusals
    def list_my_grants() -> list[dict[str, Any]]:
        """The grants you hold now (port, columns, row filter, expiry)."""
        return [plain(grant) for grant in mesh.access.grants(user())]

    @server.tool()
    @refusals
    def request_access(port: str, purpose: str, columns: list[str] | None = None) -> dict[str, Any]:
        """Ask the port's owners for access, saying why (as `meshplane access request PORT --purpose ...`)."""
        request: dict[str, Any] = plain(mesh.access.request_access(user(), port, purpose, columns or ()))
        return request

    @server.tool()
    @refusals
    def run_query(sql: str, max_rows: int = 100) -> dict[str, Any]:
        """Run one read-only SQL query through the governed gateway; at most ``max_rows`` rows come back."""
        cap = max(1, min(max_rows, MAX_ROWS))
        result = mesh.access.query(user(), sql)
        return {"columns": result.table.column_names, "rows": _rows(result.table, cap), "row_count": result.rows,
                "truncated": result.rows > cap, "ports": [p.address for p in result.ports]}  # fmt: skip

    @server.resource("meshplane://contracts/{port}", mime_type="application/json")
    def contract(port: str) -> str:
        """The ODCS data contract of an output port."""
        record = mesh.platform.catalog.reader.port(port)
        if record is None:
            raise MeshError(f"no port {port} in the catalog; search with search_products")
        return json.dumps(plain(record.contract))

    @server.resource("meshplane://glossary", mime_type="application/json")
    def glossary() -> str:
        """The mesh's glossary: shared semantic types that join across domains."""
        return json.dumps([plain(term) for term in mesh.platform.catalog.reader.glossary()])

    return server
