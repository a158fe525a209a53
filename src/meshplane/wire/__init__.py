"""meshplane.wire: the PostgreSQL wire protocol in front of the governed query gateway.

``messages`` (framing), ``values`` (types and row encoding), ``statements`` (what a statement is),
``catalog`` (pg_catalog and information_schema over the ports a user may read), ``session`` (one
connection) and ``server`` (the listener, TLS, cancel keys and the workspace backend).
"""

from meshplane.wire.server import DEFAULT_PORT, MeshBackend, WireBackend, WireConfig, WireServer, running

__all__ = ["DEFAULT_PORT", "MeshBackend", "WireBackend", "WireConfig", "WireServer", "running"]
