"""Mesh files stay inside the mesh: a symbolic link that leads out of it is reported, never followed.

``meshplane check`` (and every load of a mesh) reads only files whose real path lies under the mesh root:
a contract, product, policy or transform that is a link to ``/etc/passwd`` or to another checkout is a
located problem, and its target is not read. :func:`within_mesh` sets the root for one load;
:func:`outside_mesh` is the check, with the root given or taken from the load in progress.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from meshplane.types import Problem, SourceLocation

__all__ = ["files_named", "is_dir", "is_file", "is_link", "listing", "outside_mesh", "within_mesh"]

_ROOT: ContextVar[str | None] = ContextVar("meshplane_mesh_root", default=None)
# Real paths of the folders seen during one load: a mesh of 10,000 products reads 30,000 files in 10,000
# folders, and resolving each file's path from the file system root (os.path.realpath) costs a system
# call per level of every path.
_FOLDERS: ContextVar[dict[str, str] | None] = ContextVar("meshplane_mesh_folders", default=None)
# Each folder's entries as one directory listing reports them, during one load: whether a product's files
# exist, are links or are orphans is answered from one listing per folder instead of a system call per file.
_LISTINGS: ContextVar[dict[str, dict[str, int] | None] | None] = ContextVar("meshplane_mesh_listings", default=None)
_FILE, _DIR, _LINK = 1, 2, 4


@contextmanager
def within_mesh(root: Path) -> Iterator[None]:
    """Refuse, while loading the mesh at ``root``, to read any file whose real path is outside it."""
    token = _ROOT.set(os.path.realpath(root))
    folders = _FOLDERS.set({})
    listings = _LISTINGS.set({})
    try:
        yield
    finally:
        _LISTINGS.reset(listings)
        _FOLDERS.reset(folders)
        _ROOT.reset(token)


def _entries(folder: str) -> dict[str, int] | None:
    """``folder``'s entries (name -> kind bits, as the listing's file types say, without a system call per
    entry), kept for the load in progress; None outside a load or when the folder cannot be listed."""
    known = _LISTINGS.get()
    if known is None:
        return None
    if folder in known:
        return known[folder]
    entries: dict[str, int] | None = {}
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                assert entries is not None
                if entry.is_symlink():
                    entries[entry.name] = _LINK
                elif entry.is_dir(follow_symlinks=False):
                    entries[entry.name] = _DIR
                elif entry.is_file(follow_symlinks=False):
                    entries[entry.name] = _FILE
                else:
                    entries[entry.name] = 0
    except OSError:
        entries = None
    known[folder] = entries
    return entries


def _kind(path: Path | str) -> int | None:
    """The kind bits of ``path`` from its folder's listing: 0 when it does not exist; None when unknown."""
    folder, name = os.path.split(os.fspath(path))
    entries = _entries(folder) if _in_mesh(folder) else None
    if entries is None:
        return None
    return entries.get(name, 0)


def _in_mesh(folder: str) -> bool:
    """Only the mesh's own folders are listed (never ``/`` or ``/tmp`` on the way up to the mesh root)."""
    root = _ROOT.get()
    return root is not None and (folder == root or folder.startswith(root.rstrip(os.sep) + os.sep))


def is_file(path: Path) -> bool:
    """``path.is_file()``; during a load, answered from the folder's listing (a link is still followed)."""
    kind = _kind(path)
    if kind is None or kind & _LINK:
        return path.is_file()
    return bool(kind & _FILE)


def is_dir(path: Path) -> bool:
    """``path.is_dir()``; during a load, answered from the folder's listing (a link is still followed)."""
    kind = _kind(path)
    if kind is None or kind & _LINK:
        return path.is_dir()
    return bool(kind & _DIR)


def is_link(path: Path) -> bool:
    """``path.is_symlink()``; during a load, answered from the folder's listing."""
    kind = _kind(path)
    return path.is_symlink() if kind is None else bool(kind & _LINK)


def listing(folder: Path) -> list[str] | None:
    """The names in ``folder`` (sorted) during a load, from its one listing; None outside a load or unreadable."""
    text = os.fspath(folder)
    entries = _entries(text) if _in_mesh(text) else None
    return None if entries is None else sorted(entries)


def files_named(folder: Path, suffix: str) -> list[tuple[Path, bool]] | None:
    """The files in ``folder`` whose names end with ``suffix`` (sorted), each with whether it is a link (kept when
    it leads to a file), from the folder's one listing during a load: no system call or path check per name
    for plain files. None outside a load or when the folder cannot be listed."""
    text = os.fspath(folder)
    entries = _entries(text) if _in_mesh(text) else None
    if entries is None:
        return None
    found: list[tuple[Path, bool]] = []
    for name in sorted(entries):
        if name.endswith(suffix):
            kind = entries[name]
            if kind & _LINK:
                if (folder / name).is_file():
                    found.append((folder / name, True))
            elif kind & _FILE:
                found.append((folder / name, False))
    return found


def _real_folder(folder: str, known: dict[str, str]) -> str:
    real = known.get(folder)
    if real is None:
        parent, name = os.path.split(folder)
        if not name or parent == folder:
            real = os.path.realpath(folder)
        else:
            real = _real_path(folder, _real_folder(parent, known))
        known[folder] = real
    return real


def _real_path(path: str, real_parent: str) -> str:
    """``os.path.realpath(path)`` given its folder's real path: no system call when its folder's listing says
    it is no link, else one ``lstat`` unless ``path`` is a link."""
    kind = _kind(path)
    if kind:  # listed, and it says whether it is a link
        linked = bool(kind & _LINK)
    else:
        try:
            linked = stat.S_ISLNK(os.lstat(path).st_mode)
        except OSError:
            linked = True  # missing or unreadable: let realpath say what it says of such a path
    return os.path.realpath(path) if linked else os.path.join(real_parent, os.path.basename(path))


def _realpath(path: Path | str) -> str:
    text = os.fspath(path)
    known = _FOLDERS.get()
    parts = text.split(os.sep)
    if known is None or not os.path.isabs(text) or "." in parts or ".." in parts or "" in parts[1:]:
        return os.path.realpath(text)
    return _real_path(text, _real_folder(os.path.dirname(text), known))


def outside_mesh(path: Path | str, root: Path | str | None = None) -> Problem | None:
    """A located problem when ``path`` resolves (through links) outside the mesh root, else None."""
    base = os.path.realpath(root) if root is not None else _ROOT.get()
    if base is None:
        return None
    real = _realpath(path)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return Problem(
        SourceLocation(Path(path)),
        "this is a symbolic link that leads out of the mesh; meshplane does not follow it",
        "replace the link with the file itself (mesh files live inside the mesh repository)",
        code="outside-mesh",
    )
