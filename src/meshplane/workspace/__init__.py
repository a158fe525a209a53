"""The facade: one object that opens a mesh and offers every use case."""

from meshplane.workspace.mesh import CheckReport, Mesh, check_mesh

__all__ = ["CheckReport", "Mesh", "check_mesh"]
