"""meshplane: a self-serve data mesh platform.

Open a mesh with :func:`open_mesh`; query it as a consumer with :func:`connect`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "connect", "open_mesh"]

if TYPE_CHECKING:
    from pathlib import Path

    from meshplane.workspace import Mesh


def open_mesh(path: str | Path = ".") -> Mesh:
    """Load, validate and resolve the mesh at ``path``; raises SpecError with every located problem."""
    from meshplane.workspace import Mesh

    return Mesh.open(path)


def connect(path: str | Path = ".", *, as_user: str) -> Any:
    """A governed query connection to the mesh at ``path``, acting as ``as_user``."""
    return open_mesh(path).connect(as_user=as_user)
