"""What the product and governance pages show of profiles, anomalies and trends, as charts ready to render.

Profiles reach this module already filtered for the viewer by the workspace (the access authority decides);
this module only draws them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from meshplane.catalog import ProfileRecord
from meshplane.contracts.anomalies import Anomaly
from meshplane.server.profile_charts import Point, histogram_svg, number, top_values_svg, trend_svg
from meshplane.types import Principal
from meshplane.workspace.discovery import DiscoveryService, QualityPoint

__all__ = ["compliance_context", "product_profiles"]


def _column_view(column: Mapping[str, Any], rows: int) -> dict[str, Any]:
    nulls = int(column.get("nulls") or 0)
    chart: Markup | None = None
    if column.get("histogram"):
        chart = histogram_svg(column)
    elif column.get("top"):
        chart = top_values_svg(column, rows)
    note = ""
    if column.get("sensitive"):
        note = "sensitive: counted only"
    elif column.get("withheld"):
        note = "values shown to readers of this column only"
    return {
        "name": column.get("name"), "kind": column.get("kind"), "nulls": nulls,
        "null_share": nulls / rows if rows else 0.0, "distinct": column.get("distinct"),
        "min": column.get("min"), "max": column.get("max"), "chart": chart, "note": note,
        "sampled": column.get("sampled"),
    }  # fmt: skip


def _port_trends(port: str, history: Sequence[ProfileRecord], anomalies: Sequence[Anomaly]) -> dict[str, Markup]:
    flagged = {(a.metric, a.run_id) for a in anomalies if a.port == port and a.column is None}
    rows = [Point(p.profiled_at, float(p.row_count),
                  f"{p.profiled_at:%Y-%m-%d %H:%M} · {p.row_count:,} rows"
                  + (" · anomaly" if ("row_count", p.run_id) in flagged else ""),
                  ("row_count", p.run_id) in flagged) for p in history]  # fmt: skip
    gaps = [Point(b.profiled_at, (b.profiled_at - a.profiled_at).total_seconds() / 3600,
                  f"{b.profiled_at:%Y-%m-%d %H:%M} · {(b.profiled_at - a.profiled_at).total_seconds() / 3600:.1f} h "
                  "since the previous build" + (" · late" if ("freshness", b.run_id) in flagged else ""),
                  ("freshness", b.run_id) in flagged) for a, b in itertools.pairwise(history)]  # fmt: skip
    name = port.split(".")[-1]
    return {
        "rows": trend_svg(rows, title=f"Rows of {name} per build"),
        "freshness": trend_svg(gaps, title=f"Hours between builds of {name}", unit=" h"),
    }


def quality_trend(history: Sequence[QualityPoint]) -> Markup:
    """Share of checks passing per run, over time; failed runs and runs with a failed check in red."""
    points = []
    for h in history:
        total = h.passed + h.failed
        share = h.passed / total if total else (1.0 if h.status == "success" else 0.0)
        tip = f"{h.at:%Y-%m-%d %H:%M} · {h.status} · {h.passed}/{total} checks passed"
        points.append(Point(h.at, share, tip, bool(h.failed) or h.status not in ("success", "skipped")))
    return trend_svg(points, title="Checks passing per run", percent=True)


def product_profiles(service: DiscoveryService, who: Principal, address: str) -> dict[str, Any]:
    """Per port: the latest profile as ``who`` may see it (columns with charts), trends; and the anomalies."""
    view = service.profile_view(address)
    latest = service.profiles_for(who, address)
    ports: dict[str, dict[str, Any]] = {}
    for port, profile in latest.items():
        ports[port] = {
            "profile": profile,
            "columns": [_column_view(c, profile.row_count) for c in profile.columns],
            "trends": _port_trends(port, view.history.get(port, ()), view.anomalies),
            "rows": number(profile.row_count),
            "sampled": f"{profile.sampled_rows:,}" if profile.sampled_rows else "",
        }
    return {"profiles": ports, "anomalies": view.anomalies}


def compliance_context(service: DiscoveryService) -> dict[str, Any]:
    trend = service.compliance_trend(limit=60)
    points = [
        Point(t["at"], t["compliance"],
              f"{t['at']:%Y-%m-%d %H:%M} · {100 * t['compliance']:.1f} % compliant · "
              + ", ".join(f"{n} {o}" for o, n in sorted(t["counts"].items())),
              bool(t["counts"].get("fail") or t["counts"].get("error")))
        for t in trend
    ]  # fmt: skip
    return {"trend": trend, "trend_svg": trend_svg(points, title="Compliance per policy evaluation", percent=True,
                                                   width=720)}  # fmt: skip
