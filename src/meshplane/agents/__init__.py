"""meshplane.agents: the mesh for AI agents over the Model Context Protocol (official ``mcp`` SDK).

``tools`` builds the MCP server acting as one authenticated user, every tool a call of the workspace
facade; ``meshplane mcp`` serves it on stdio and ``meshplane serve`` under ``/mcp`` (streamable HTTP).
"""

from meshplane.agents.tools import build_server

__all__ = ["build_server"]
