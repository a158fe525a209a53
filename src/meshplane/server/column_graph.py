"""The column-lineage graph of a port, drawn by Graphviz ``dot`` as SVG: one box per port (or source), one node per
column, an arrow where a column is computed from another. ``dot -Tsvg`` escapes labels itself; the page embeds the
``<svg>`` element. Drawings are cached per distinct graph (a pure function of the edges)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection, Iterable
from functools import lru_cache
from urllib.parse import quote

from markupsafe import Markup

from meshplane.lineage import ColumnEdge
from meshplane.server.layout import LayoutUnavailable

__all__ = ["column_lineage_svg"]

_TIMEOUT_S = 30.0


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _source(port: str, edges: Iterable[ColumnEdge], column: str | None, ports: Collection[str]) -> str:
    columns: dict[str, set[str]] = {}
    pairs = set()
    for e in edges:
        columns.setdefault(e.upstream_port, set()).add(e.upstream_column)
        columns.setdefault(e.downstream_port, set()).add(e.downstream_column)
        pairs.add((f"{e.upstream_port}.{e.upstream_column}", f"{e.downstream_port}.{e.downstream_column}"))
    lines = ["digraph columns {", 'graph [rankdir=LR, nodesep=0.12, ranksep=1.1, fontname="Helvetica", fontsize=12, '
             'margin=0, bgcolor="transparent"];',
             'node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#8795b3", fontname="Helvetica", '
             'fontsize=11, height=0.28, margin="0.08,0.02"];', 'edge [color="#8c97ad", arrowsize=0.6];']  # fmt: skip
    for index, (owner, names) in enumerate(sorted(columns.items())):
        here = owner == port
        is_port = owner in ports  # else a source contract (raw data)
        style = 'style="rounded,filled"; fillcolor="#dfe8ff"; color="#2454d6";' if here else (
            'style="rounded,filled"; fillcolor="#eef1f7"; color="#d8dde6";' if is_port else
            'style="rounded,filled,dashed"; fillcolor="#f6f7fa"; color="#9aa3b5";')  # fmt: skip
        link = f" URL={_quote('/ports/' + quote(owner) + '#column-lineage')};" if is_port and not here else ""
        lines.append(f"subgraph cluster_{index} {{ label={_quote(owner + ('' if is_port else ' (source)'))}; "
                     f"labeljust=l; {style}{link}")  # fmt: skip
        for name in sorted(names):
            chosen = here and name == column
            extra = ', fillcolor="#ffbf47", penwidth=2' if chosen else ""
            tip = f"{owner}.{name}"
            lines.append(f"  {_quote(tip)} [label={_quote(name)}, tooltip={_quote(tip)}{extra}];")
        lines.append("}")
    lines.extend(f"{_quote(a)} -> {_quote(b)};" for a, b in sorted(pairs))
    lines.append("}")
    return "\n".join(lines)


@lru_cache(maxsize=64)
def _run_dot(source: str) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise LayoutUnavailable("Graphviz is not installed: `apt-get install graphviz` draws the column lineage")
    try:
        done = subprocess.run([dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LayoutUnavailable(f"Graphviz took longer than {_TIMEOUT_S:.0f} s on this graph") from None
    if done.returncode != 0:
        raise LayoutUnavailable(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    svg = done.stdout.decode()
    svg = svg[svg.index("<svg") :]  # drop the XML prologue and doctype
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    # dot's own class names would pick up the mesh map's styles (.node, .edge): give them the graph's own
    for name in ("node", "edge", "cluster"):
        svg = svg.replace(f'class="{name}"', f'class="col-{name}"')
    return svg.replace("<svg ", '<svg id="column-lineage-graph" class="columns" role="img" '
                       'aria-label="Column lineage: which columns each column is computed from" ', 1)  # fmt: skip


def column_lineage_svg(port: str, edges: Iterable[ColumnEdge], ports: Collection[str],
                       column: str | None = None) -> Markup:  # fmt: skip
    """The drawn graph of ``edges`` around ``port`` (its columns highlighted, ``column`` most); ``ports`` are the
    mesh's output ports (anything else an edge names is a source)."""
    return Markup(_run_dot(_source(port, edges, column, ports)))
