"""The access-request story in a real browser: a royalties analyst finds podcasts' listening events and asks
for access, the podcasts owner approves with a row filter, and the analyst queries across domains."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PORT = "podcasts.listening_events.listening_events"


def _page(browser: Any, url: str, user: str) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.goto(f"{url}/login")
    page.select_option("#dev-user", user)
    page.click("#dev-sign-in")
    page.wait_for_selector("#signed-in-user")
    assert page.inner_text("#signed-in-user") == user
    return page


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_consumer_requests_and_owner_approves(browser: Any, live_url: str) -> None:
    analyst = _page(browser, live_url, "raj")
    _shot(analyst, "home")
    analyst.fill("#quick-q", "listening events")
    analyst.press("#quick-q", "Enter")
    analyst.wait_for_selector("ol.hits li.hit")
    assert "result" in analyst.inner_text("#result-count")
    _shot(analyst, "search")
    analyst.click("ol.hits a.hit-title:text-is('listening_events')")
    analyst.wait_for_url(re.compile(r"/products/podcasts\.listening_events"))
    assert "listener_email" in analyst.inner_text("table.schema")
    _shot(analyst, "product")
    # keyboard: the request button is reachable and opens the form
    analyst.focus("#request-access-listening_events")
    analyst.keyboard.press("Enter")
    analyst.fill("#purpose-listening_events", "Monthly royalty statements for podcast networks")
    analyst.click("#port-listening_events form button[type=submit]")
    analyst.wait_for_selector("#request-status")
    assert "pending" in analyst.inner_text("#request-status")

    owner = _page(browser, live_url, "amelie")
    owner.goto(f"{live_url}/inbox")
    card = owner.locator("section.request-card", has_text="raj").first
    assert "Monthly royalty statements" in card.inner_text()
    card.locator("input[name=row_filter]").fill("country_code IN ('FR', 'DE', 'GB', 'US')")
    _shot(owner, "inbox")
    card.locator("button", has_text="Approve").click()
    owner.wait_for_selector("p.notice.ok")
    assert "approved" in owner.inner_text("table")

    analyst.goto(f"{live_url}/requests")
    row = analyst.locator("#my-requests tr", has_text=PORT).first
    assert "approved" in row.inner_text() and "country_code IN" in row.inner_text()
    for name, path in (("map", "/map"), ("governance", "/governance"), ("domain", "/domains/podcasts")):
        analyst.goto(f"{live_url}{path}")
        _shot(analyst, name)
    analyst.goto(f"{live_url}/login")
    _shot(analyst, "login")
    analyst.context.close()
    owner.context.close()


def test_consumer_queries_across_domains_and_sees_masks(browser: Any, live_url: str) -> None:
    analyst = _page(browser, live_url, "raj")
    analyst.goto(f"{live_url}/sql")
    analyst.click("#run-sql")  # the prefilled example joins podcasts and royalties
    analyst.wait_for_selector("#sql-result", timeout=20_000)
    headers = [h.strip() for h in analyst.locator("#sql-result thead th").all_inner_texts()]
    emails = analyst.locator(f"#sql-result tbody tr td:nth-child({headers.index('listener_email') + 1})")
    values = emails.all_inner_texts()
    assert values and all("@" not in v for v in values)  # hashed, never the address
    analyst.context.close()
