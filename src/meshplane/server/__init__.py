"""The REST API (``/api/v1``) and the web portal, over one opened mesh.

``create_app(mesh)`` builds the FastAPI app; ``app_from_env`` is the factory ``meshplane serve`` hands to
uvicorn. Delivery only: every use case goes through the workspace facade and its discovery service.
"""

from meshplane.server.app import DEV_ENV, MESH_ENV, app_from_env, create_app
from meshplane.server.auth import Rule

__all__ = ["DEV_ENV", "MESH_ENV", "Rule", "app_from_env", "create_app"]
