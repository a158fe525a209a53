"""The facade: one object that opens a mesh and offers every use case."""

from meshplane.workspace.loading import CheckReport, check_mesh
from meshplane.workspace.mesh import Mesh

__all__ = ["CheckReport", "Mesh", "check_mesh"]
