"""The catalog sync a build does first is skipped when the catalog already holds the same mesh state."""

from __future__ import annotations

import shutil
from pathlib import Path

from meshplane.catalog import CatalogStore
from meshplane.graph import resolve
from meshplane.spec.loader import load_mesh
from meshplane.workspace.publishing import mesh_state, sync_catalog

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pharma"


def _graph(root: Path):  # type: ignore[no-untyped-def]
    loaded = load_mesh(root)
    assert loaded.spec is not None
    graph, problems = resolve(loaded.spec)
    assert graph is not None and not problems
    return graph


def test_sync_is_skipped_until_the_specs_change(tmp_path: Path) -> None:
    root = tmp_path / "pharma"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    catalog = CatalogStore.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        graph = _graph(root)
        assert sync_catalog(graph, catalog) is True
        assert sync_catalog(_graph(root), catalog) is False  # same files: one read, no rewrite
        assert {p.address for p in catalog.reader.products()} == {str(a) for a in graph.products}

        product = root / "domains" / "rnd_trials" / "harmonised_trials" / "product.odps.yaml"
        product.write_text(product.read_text("utf-8").replace("tags: [", "tags: [oncology, ", 1), "utf-8")
        changed = _graph(root)
        assert mesh_state(changed) != mesh_state(graph)
        assert sync_catalog(changed, catalog) is True
        record = catalog.reader.product("rnd_trials.harmonised_trials")
        assert record is not None and "oncology" in record.tags
    finally:
        catalog.close()
