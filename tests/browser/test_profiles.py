"""The product page's profile in a real browser: the charts are drawn and visible, every bar and point has its
tooltip, and no two axis labels of a chart overlap on screen."""

from __future__ import annotations

from typing import Any

import pytest

from browser.test_access_story import SHOTS, _page

pytestmark = pytest.mark.browser

PORT = "podcasts.listening_events.listening_events"


def _overlaps(boxes: list[dict[str, float]]) -> list[tuple[int, int]]:
    found = []
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes[i + 1 :], start=i + 1):
            if (a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5
                    and a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5):  # fmt: skip
                found.append((i, j))
    return found


def test_owner_sees_the_profile_charts(browser: Any, live_url: str) -> None:
    page = _page(browser, live_url, "bilal")
    page.goto(f"{live_url}/products/podcasts.listening_events")
    grid = page.locator(f'div.profile-grid[data-profile="{PORT}"]')
    grid.scroll_into_view_if_needed()
    charts = grid.locator("svg.chart")
    assert charts.count() >= 3
    histogram = grid.locator('svg[aria-label^="Distribution of started_at"]')
    assert histogram.is_visible()
    box = histogram.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    bars = histogram.locator("rect.bar")
    assert bars.count() >= 2
    assert " rows" in bars.first.locator("title").text_content()  # type: ignore[operator]
    assert grid.locator('svg[aria-label^="Most frequent values of"]').count() >= 1
    assert page.locator('svg[aria-label^="Distribution of listener_email"]').count() == 0  # PII: counts only
    assert "sensitive: counted only" in page.inner_text("table.profile")
    for svg in page.locator("svg.chart").all():
        ticks = [t.bounding_box() for t in svg.locator("text.tick").all()]
        visible = [t for t in ticks if t is not None and t["width"] > 0]
        assert not _overlaps(visible), svg.get_attribute("aria-label")
    trend = page.locator('svg[aria-label^="Checks passing per run"]')
    assert trend.is_visible() and trend.locator("circle.point").count() >= 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f'h4[id="profile-{PORT.split(".")[2]}"]').scroll_into_view_if_needed()
    grid.screenshot(path=str(SHOTS / "profile.png"))
    page.context.close()


def test_consumer_sees_counts_without_values(browser: Any, live_url: str) -> None:
    page = _page(browser, live_url, "gustav")
    page.goto(f"{live_url}/products/podcasts.listening_events")
    table = page.locator("table.profile").first
    table.scroll_into_view_if_needed()
    assert table.is_visible()
    assert "values shown to readers of this column only" in table.inner_text()
    assert page.locator(f'div.profile-grid[data-profile="{PORT}"] svg.chart').count() == 0
    page.context.close()
