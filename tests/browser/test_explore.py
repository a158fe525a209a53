"""Exploring in a real browser: the mesh map zooms, pans and highlights a product's upstream and downstream."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from browser.test_access_story import _page, _shot

NO_DOT = shutil.which("dot") is None
pytestmark = [pytest.mark.browser, pytest.mark.skipif(NO_DOT, reason="Graphviz `dot` (apt-get install graphviz)")]


def test_mesh_map_zooms_pans_and_highlights(browser: Any, live_url: str) -> None:
    page = _page(browser, live_url, "raj")
    page.goto(f"{live_url}/map")
    svg = page.locator("#mesh-map")
    start = svg.get_attribute("viewBox")
    page.click("button[data-zoom=in]")
    zoomed = svg.get_attribute("viewBox")
    assert zoomed != start and float(zoomed.split()[2]) < float(start.split()[2])  # type: ignore[union-attr]
    box = svg.bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 260, box["y"] + 190, steps=4)
    page.mouse.up()
    panned = svg.get_attribute("viewBox")
    assert panned.split()[2] == zoomed.split()[2] and panned.split()[:2] != zoomed.split()[:2]  # type: ignore[union-attr]
    page.click("button[data-zoom=reset]")
    assert svg.get_attribute("viewBox") == start
    page.click('a.node-link[data-product="podcasts.listening_insights"]')
    page.wait_for_url(re.compile(r"focus=podcasts\.listening_insights"))
    assert "podcasts.listening_events" in page.inner_text("#upstream")
    assert page.locator('a.node-link.up[data-product="podcasts.listening_events"]').count() == 1
    assert page.locator("a.node-link.dim").count() > 0
    _shot(page, "map-focus")
    page.context.close()


def test_glossary_and_impact_from_a_product_page(browser: Any, live_url: str) -> None:
    page = _page(browser, live_url, "bilal")
    page.goto(f"{live_url}/products/podcasts.listening_events")
    page.locator('table.schema a[href="/glossary/show_id"]').first.click()
    page.wait_for_url(re.compile(r"/glossary/show_id$"))
    assert "royalties.creator_payouts.payout_lines" in page.inner_text("#term-joins")
    _shot(page, "glossary")
    page.goto(f"{live_url}/products/podcasts.listening_events")
    page.click("#impact-listening_events")
    page.wait_for_url(re.compile(r"/ports/podcasts\.listening_events\.listening_events/impact$"))
    assert "royalties.creator_payouts" in page.inner_text("#readers")
    page.select_option("#impact-column", "show_id")
    page.click("form.inline button[type=submit]")
    page.wait_for_url(re.compile(r"column=show_id"))
    assert int(page.inner_text("#n-columns")) > 0
    _shot(page, "impact")
    page.context.close()
