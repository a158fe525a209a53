"""A profile measured on a sample says so wherever it is shown: the record, the product page's table and charts."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from meshplane.catalog import ProfileRecord
from meshplane.server.portal import templates
from meshplane.server.profile_charts import histogram_svg, top_values_svg
from meshplane.server.profile_pages import _column_view

SAMPLED = {"name": "amount", "kind": "numeric", "sensitive": False, "nulls": 0, "distinct": 900, "min": 1, "max": 9,
           "top": [], "histogram": [[1, 5, 60_000], [5, 9, 40_000]], "sampled": 100_000}  # fmt: skip
COUNTED = {"name": "email", "kind": "text", "sensitive": True, "nulls": 3, "distinct": None, "min": None,
           "max": None, "top": [], "histogram": []}  # fmt: skip


def test_the_record_knows_its_sample() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    sampled = ProfileRecord("d.p.p", "run", at, 6_000_000, (SAMPLED, COUNTED))
    assert sampled.sampled_rows == 100_000
    assert ProfileRecord("d.p.p", "run", at, 10, (COUNTED,)).sampled_rows is None


def test_charts_and_page_say_sampled() -> None:
    assert "Distribution of amount (sample of 100,000 rows)" in histogram_svg(SAMPLED)
    status = {"name": "status", "top": [["paid", 50_000]], "sampled": 100_000}
    chart = top_values_svg(status, 6_000_000)
    assert "(sample of 100,000 rows)" in chart and "50.0 % of sampled rows" in chart  # a share of the sample
    assert "% of rows" in top_values_svg({"name": "status", "top": [["paid", 5]]}, 10)
    at = datetime(2026, 12, 7, tzinfo=UTC)
    record = ProfileRecord("d.p.p", "run", at, 6_000_000, (SAMPLED, COUNTED))
    view = {"profile": record, "columns": [_column_view(c, record.row_count) for c in record.columns],
            "trends": {"rows": "", "freshness": ""}, "rows": "6.0M", "sampled": "100,000"}  # fmt: skip
    partial = templates.get_template("_profile.html")
    page = partial.render(profiles={"d.p.p": view}, port=SimpleNamespace(address="d.p.p"))
    assert "Sampled:" in page and "sample of 100,000 of the 6.0M rows" in page and "in the sample" in page
    unsampled = {**view, "sampled": ""}
    assert "Sampled" not in partial.render(profiles={"d.p.p": unsampled}, port=SimpleNamespace(address="d.p.p"))
