"""Server-rendered SVG charts for profiles and trends: histograms, top values and time series.

Each chart has axes with a few labelled ticks placed so that no two labels overlap (at most one label per
``_MIN_GAP`` pixels, and the last one dropped when it would touch its neighbour), a ``<title>`` tooltip on
every bar and point, and ``role=img`` with a text alternative. No JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = ["Point", "histogram_svg", "number", "top_values_svg", "trend_svg"]

_CHAR = 6.2  # px per character of the 10 px tick font: labels are sized from it to keep them apart
_MIN_GAP = 8.0


def number(value: Any) -> str:
    """A short, readable number: 1,234 · 12.5k · 3.4M · 0.125."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.1f}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _label(value: Any) -> str:
    """A bin edge or a value as a tick shows it (dates without their midnight time)."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10] if value[10:].strip("T0:+Z") == "" else value[:16].replace("T", " ")
    return number(value)


def _ticks(candidates: Sequence[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """Axis labels (x, text) left to right as (x, text, anchor): the first starts at its x, the last ends at its
    x, the others are centred; a label that would come within ``_MIN_GAP`` px of one kept is dropped (the last
    one, the end of the range, is kept instead of its neighbour)."""
    if not candidates:
        return []
    last = len(candidates) - 1
    placed = []
    for i, (x, text) in enumerate(candidates):
        w = len(text) * _CHAR
        anchor = "start" if i == 0 else "end" if i == last else "middle"
        start = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
        placed.append((start, start + w, x, text, anchor))
    end = placed[-1] if last > 0 else None
    kept: list[tuple[float, float, float, str, str]] = []
    for item in placed[: last if end is not None else 1]:
        if not kept or (item[0] >= kept[-1][1] + _MIN_GAP and item[3] != kept[-1][3]):
            kept.append(item)
    if end is not None:
        while kept and (end[0] < kept[-1][1] + _MIN_GAP or end[3] == kept[-1][3]):
            kept.pop()
        kept.append(end)
    return [(x, text, anchor) for _, _, x, text, anchor in kept]


def _svg(width: int, height: int, label: str, cls: str = "chart") -> list[str]:
    return [f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(label)}">']  # fmt: skip


def histogram_svg(column: Mapping[str, Any], *, width: int = 300, height: int = 140) -> Markup:
    """A column's histogram: bars per bin, the row count axis on the left, bin edges below."""
    bins: list[list[Any]] = list(column.get("histogram") or [])
    name = str(column.get("name"))
    title = f"Distribution of {name}{_sampled(column)}"
    left, right, top, bottom = 44, 8, 18, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = _svg(width, height, f"{title}: {len(bins)} bins")
    parts.append(f'<text x="4" y="12" class="chart-title">{escape(title)}</text>')
    most = max((int(b[2]) for b in bins), default=0) or 1
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" class="axis"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" class="axis"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 8}" class="tick" text-anchor="end">{number(most)}</text>')
    parts.append(f'<text x="{left - 4}" y="{base}" class="tick" text-anchor="end">0</text>')
    parts.append(f'<text x="{left - 30}" y="{top + plot_h / 2 + 3:.0f}" class="tick">rows</text>')
    step = plot_w / max(len(bins), 1)
    for i, (low, high, rows) in enumerate(bins):
        h = plot_h * int(rows) / most
        x = left + i * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(step - 2, 1):.1f}" height="{max(h, 0.5):.1f}" '
            f'class="bar muted"><title>{escape(_label(low))} to {escape(_label(high))}: '
            f"{int(rows):,} rows</title></rect>"
        )
    if bins:
        edges = [(left + i * step, _label(b[0])) for i, b in enumerate(bins)] + [(left + plot_w, _label(bins[-1][1]))]
        # the range's ends always; inner edges where they fit
        for x, text, anchor in _ticks(edges):
            parts.append(f'<text x="{x:.1f}" y="{base + 13}" class="tick" text-anchor="{anchor}">{escape(text)}</text>')
    else:
        parts.append(f'<text x="{left + 8}" y="{top + plot_h / 2:.0f}" class="tick">no values</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 3}" class="tick" text-anchor="middle">'
                 f"{escape(name)}</text></svg>")  # fmt: skip
    return Markup("".join(parts))


def _sampled(column: Mapping[str, Any]) -> str:
    """A chart title's note that its counts are a sample's (see :class:`meshplane.contracts.profile.ProfileSample`)."""
    sampled = column.get("sampled")
    return f" (sample of {int(sampled):,} rows)" if isinstance(sampled, int) else ""


def top_values_svg(column: Mapping[str, Any], rows: int, *, width: int = 300) -> Markup:
    """A column's most frequent values: one row per value (label left, bar, count right), so labels never
    collide; the bar's tooltip gives the value in full with its count and share."""
    top: list[list[Any]] = list(column.get("top") or [])
    name = str(column.get("name"))
    title = f"Most frequent values of {name}{_sampled(column)}"
    sampled = column.get("sampled")
    if isinstance(sampled, int) and sampled > 0:
        rows = sampled  # the counts are the sample's: shares are of the sample
    row_h, head, label_w, count_w = 17, 18, 96, 54
    height = head + row_h * max(len(top), 1) + 6
    bar_w = width - label_w - count_w - 8
    parts = _svg(width, height, f"{title}: {len(top)} values")
    parts.append(f'<text x="4" y="12" class="chart-title">{escape(title)}</text>')
    most = max((int(t[1]) for t in top), default=0) or 1
    for i, (value, count) in enumerate(top):
        y = head + i * row_h
        text = str(value)
        shown = text if len(text) * _CHAR <= label_w - 6 else text[: int((label_w - 6) / _CHAR) - 1] + "…"
        share = f" ({100 * int(count) / rows:.1f} % of {'sampled ' if sampled else ''}rows)" if rows else ""
        w = bar_w * int(count) / most
        parts.append(f'<text x="{label_w - 4}" y="{y + 12}" class="tick" text-anchor="end">{escape(shown)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 5}" class="bar ok">'
                     f"<title>{escape(text)}: {int(count):,} rows{share}</title></rect>")  # fmt: skip
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" class="tick">{number(int(count))}</text>')
    if not top:
        parts.append(f'<text x="{label_w}" y="{head + 12}" class="tick">no values</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float
    tip: str  # the tooltip: when, what, and why it is marked
    flagged: bool = False  # drawn as an anomaly (red, larger)


def trend_svg(
    points: Sequence[Point], *, title: str, unit: str = "", width: int = 560, height: int = 170,
    percent: bool = False, floor_zero: bool = True,
) -> Markup:  # fmt: skip
    """A time series: a line through the points (oldest left), the value axis on the left with its lowest and
    highest ticks, dates below; each point carries its tooltip, flagged ones are red."""
    left, right, top, bottom = 52, 12, 20, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = _svg(width, height, f"{title}: {len(points)} points", cls="chart trend")
    parts.append(f'<text x="4" y="12" class="chart-title">{escape(title)}</text>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" class="axis"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" class="axis"/>')
    if not points:
        parts.append(f'<text x="{left + 8}" y="{top + plot_h / 2:.0f}" class="tick">no history yet</text></svg>')
        return Markup("".join(parts))
    values = [p.value for p in points]
    low, high = (0.0 if floor_zero else min(values)), max(values)
    if percent:
        low, high = 0.0, max(high, 1.0)
    if high <= low:
        high = low + 1
    first, last = points[0].at.timestamp(), points[-1].at.timestamp()
    span = (last - first) or 1.0

    def fmt(v: float) -> str:
        return f"{100 * v:.0f} %" if percent else number(v) + unit

    def xy(p: Point) -> tuple[float, float]:
        x = left + (plot_w * (p.at.timestamp() - first) / span if len(points) > 1 else plot_w / 2)
        return x, base - plot_h * (p.value - low) / (high - low)

    for v, level in ((high, top), (low, base)):
        parts.append(f'<text x="{left - 4}" y="{level + 3}" class="tick" text-anchor="end">{escape(fmt(v))}</text>')
        parts.append(f'<line x1="{left}" y1="{level}" x2="{left + plot_w}" y2="{level}" class="grid"/>')
    coords = [xy(p) for p in points]
    parts.append('<polyline class="line" fill="none" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')  # fmt: skip
    for p, (x, y) in zip(points, coords, strict=True):
        cls, r = ("point bad", 4.5) if p.flagged else ("point", 3.0)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" class="{cls}"><title>{escape(p.tip)}</title></circle>')
    shape = "%Y-%m-%d" if span >= 2 * 86_400 else "%m-%d %H:%M"
    picks = sorted({0, len(points) // 4, len(points) // 2, 3 * len(points) // 4, len(points) - 1})
    for x, text, anchor in _ticks([(coords[i][0], points[i].at.strftime(shape)) for i in picks]):
        parts.append(f'<text x="{x:.1f}" y="{base + 14}" class="tick" text-anchor="{anchor}">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
