"""Mesh files stay inside the mesh: a symbolic link that leads out of it is reported, never followed.

``meshplane check`` (and every load of a mesh) reads only files whose real path lies under the mesh root:
a contract, product, policy or transform that is a link to ``/etc/passwd`` or to another checkout is a
located problem, and its target is not read. :func:`within_mesh` sets the root for one load;
:func:`outside_mesh` is the check, with the root given or taken from the load in progress.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from meshplane.types import Problem, SourceLocation

__all__ = ["outside_mesh", "within_mesh"]

_ROOT: ContextVar[str | None] = ContextVar("meshplane_mesh_root", default=None)


@contextmanager
def within_mesh(root: Path) -> Iterator[None]:
    """Refuse, while loading the mesh at ``root``, to read any file whose real path is outside it."""
    token = _ROOT.set(os.path.realpath(root))
    try:
        yield
    finally:
        _ROOT.reset(token)


def outside_mesh(path: Path | str, root: Path | str | None = None) -> Problem | None:
    """A located problem when ``path`` resolves (through links) outside the mesh root, else None."""
    base = os.path.realpath(root) if root is not None else _ROOT.get()
    if base is None:
        return None
    real = os.path.realpath(path)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return Problem(
        SourceLocation(Path(path)),
        "this is a symbolic link that leads out of the mesh; meshplane does not follow it",
        "replace the link with the file itself (mesh files live inside the mesh repository)",
        code="outside-mesh",
    )
