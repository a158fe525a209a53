"""One repository per domain on one shared platform (``repository:`` in mesh.yaml).

The platform's catalog holds what each repository published: the governance repository's ``mesh.yaml``
(teams, users), ``glossary.yaml``, global ``policies/`` and ``waivers.yaml``; each domain repository's
``domains/<d>/`` files. A domain repository copies them into ``.meshplane/platform/`` before it loads, so
``check``, ``plan``, ``build``, ``diff`` and ``test`` resolve other domains' ports (with their version
ranges) against what their producers actually published, without their repositories; those domains are
*external*: read, never built here. Publishing merges: a repository replaces only its own share of the
catalog (its domains' products and lineage, or the guild's teams and glossary), and keeps everyone else's.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.errors import UsageError

if TYPE_CHECKING:
    from meshplane.catalog import CatalogStore, MeshSnapshot
    from meshplane.graph import MeshGraph
    from meshplane.types import Problem

__all__ = ["OVERLAY", "own_problems", "platform_overlay", "publish_files", "repository_kind", "scoped_snapshot"]

OVERLAY = Path(".meshplane") / "platform"
GOVERNANCE_KEY = "published:governance"
DOMAIN_PREFIX = "published:domain:"
_GOVERNANCE_FILES = ("mesh.yaml", "glossary.yaml", "waivers.yaml")
_DOMAIN_SUFFIXES = (".yaml", ".yml", ".sql", ".py")


def _mesh_settings(root: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((root / "mesh.yaml").read_text("utf-8"))
    except (OSError, yaml.YAMLError, RecursionError):
        return {}  # the loader reports a broken or missing mesh.yaml with its location
    return data if isinstance(data, dict) else {}


def repository_kind(root: Path) -> str:
    try:
        text = (root / "mesh.yaml").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return "mono"
    if not re.search(r"^repository\s*:", text, re.MULTILINE):
        return "mono"  # the default: nothing to parse (most meshes, and every monorepo)
    kind = _mesh_settings(root).get("repository", "mono")
    return kind if kind in ("mono", "governance", "domain") else "mono"


def _catalog_for(root: Path) -> CatalogStore:
    from meshplane.catalog import CatalogStore

    platform = _mesh_settings(root).get("platform") or {}
    variable = platform.get("catalog_url_env") if isinstance(platform, dict) else None
    url = os.environ.get(str(variable)) if variable else None
    if not url:
        raise UsageError(
            f"{root / 'mesh.yaml'}: a domain repository reads the shared platform's catalog: set "
            "platform.catalog_url_env and that variable to the platform's database URL"
        )
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return CatalogStore.open(url)


def platform_overlay(root: Path) -> Path | None:
    """For a domain repository: refresh ``.meshplane/platform/`` from the catalog and return it."""
    if repository_kind(root) != "domain":
        return None
    catalog = _catalog_for(root)
    try:
        published = catalog.reader.settings("published:")
    finally:
        catalog.close()
    governance = published.get(GOVERNANCE_KEY)
    if governance is None:
        raise UsageError(
            "the platform holds no governance files yet (teams, glossary, policies): run `meshplane publish` "
            "in the governance repository first"
        )
    files: dict[str, str] = dict(json.loads(governance))
    for key, value in published.items():
        if key.startswith(DOMAIN_PREFIX):
            files.update(json.loads(value))
    overlay = root / OVERLAY
    _write_tree(overlay, files)
    return overlay


def _write_tree(folder: Path, files: dict[str, str]) -> None:
    """Make ``folder`` hold exactly ``files``; unchanged files keep their bytes (and the parse cache its hits)."""
    for relative, text in files.items():
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder.resolve()):
            raise UsageError(f"the platform's catalog lists a published file outside its folder: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text("utf-8") != text:
            target.write_text(text, "utf-8")
    if folder.is_dir():
        wanted = {(folder / r).resolve() for r in files}
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in wanted:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _files_under(root: Path, folder: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in _DOMAIN_SUFFIXES and "__pycache__" not in path.parts:
            found[path.relative_to(root).as_posix()] = path.read_text("utf-8")
    return found


def own_problems(root: Path, problems: list[Problem]) -> list[Problem]:
    """The problems in this repository's files and the platform's governance files: another repository's
    published domain is checked by that repository's CI, and here only blocks the products reading it."""
    others = (root / OVERLAY / "domains").resolve()
    return [p for p in problems if not p.location.path.resolve().is_relative_to(others)]


def publish_files(graph: MeshGraph, catalog: CatalogStore) -> None:
    """Put this repository's share of the platform's files into the catalog (governance or its domains)."""
    spec = graph.spec
    root = spec.root
    kind = spec.config.repository
    values: dict[str, str] = {}
    if kind == "governance":
        files = {name: (root / name).read_text("utf-8") for name in _GOVERNANCE_FILES if (root / name).is_file()}
        files.update(_files_under(root, root / "policies"))
        values[GOVERNANCE_KEY] = json.dumps(files, sort_keys=True)
    elif kind == "domain":
        for domain in spec.domains:
            if domain.name in spec.external_domains:
                continue
            values[DOMAIN_PREFIX + domain.name] = json.dumps(
                _files_under(root, root / "domains" / domain.name), sort_keys=True
            )
    if values:
        catalog.writer.put_settings(values)


def scoped_snapshot(graph: MeshGraph, own: MeshSnapshot, catalog: CatalogStore) -> MeshSnapshot:
    """The catalog's whole mesh with this repository's share replaced by ``own`` (see the module doc)."""
    from dataclasses import replace

    spec = graph.spec
    reader = catalog.reader
    if spec.config.repository == "governance":
        return replace(
            own,
            domains=tuple(reader.domains()),
            products=tuple(reader.products()),
            lineage=tuple(reader.lineage_edges()),
            column_lineage=tuple(reader.column_lineage()),
        )
    mine = {d.name for d in spec.domains} - set(spec.external_domains)

    def ours(address: str) -> bool:
        return address.split(".", 1)[0] in mine

    return replace(
        own,
        domains=tuple(d for d in reader.domains() if d.name not in mine)
        + tuple(d for d in own.domains if d.name in mine),
        products=tuple(p for p in reader.products() if not ours(p.address))
        + tuple(p for p in own.products if ours(p.address)),
        glossary=tuple(reader.glossary()),
        teams=tuple(reader.teams()),
        lineage=tuple(e for e in reader.lineage_edges() if not ours(e.downstream))
        + tuple(e for e in own.lineage if ours(e.downstream)),
        column_lineage=tuple(e for e in reader.column_lineage() if not ours(e.downstream_port))
        + tuple(e for e in own.column_lineage if ours(e.downstream_port)),
    )
