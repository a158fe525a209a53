"""The portal as a workplace in Chromium, signed in through the company's identity provider (OpenID Connect on
loopback): explore the glossary, a port's impact and its column lineage graph, write a query with completion and
run it, save it, and manage a grant (renew it, then give it up); an owner annotates their product."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from browser.test_access_story import _page, _shot
from meshplane.workspace import Mesh
from server.oidc_provider import Provider

NO_DOT = shutil.which("dot") is None
pytestmark = [pytest.mark.browser, pytest.mark.skipif(NO_DOT, reason="Graphviz `dot` (apt-get install graphviz)")]

PORT = "podcasts.listening_events.listening_events"
STREAMS = "films.streams.streams"


def _sso_page(browser: Any, url: str, provider: Provider, user: str, target: str) -> Any:
    page = browser.new_context(viewport={"width": 1366, "height": 860}).new_page()
    page.goto(f"{url}{target}")
    page.click("#oidc-sign-in")
    page.wait_for_url(f"{provider.url}/authorize?*")
    page.fill("#who", user)
    page.click("#provider-sign-in")
    page.wait_for_selector("#signed-in-user")
    assert page.inner_text("#signed-in-user") == user
    return page


def _open_domain(page: Any, domain: str) -> None:
    """Open a domain in the SQL editor's schema browser and wait until its ports have loaded."""
    page.click(f'#schema-tree details[data-domain="{domain}"] > summary')
    page.wait_for_selector(f'#schema-tree details[data-domain="{domain}"][data-loaded="yes"]', state="attached")


def test_explore_and_query_with_completion(browser: Any, sso_url: tuple[str, Provider]) -> None:
    url, provider = sso_url
    page = _sso_page(browser, url, provider, "raj", "/glossary")
    assert page.url.startswith(f"{url}/glossary")
    page.click('a[href="/glossary/show_id"]')
    page.wait_for_url(re.compile(r"/glossary/show_id$"))
    assert "royalties.creator_payouts.payout_lines" in page.inner_text("#term-joins")
    page.goto(f"{url}/ports/{PORT}/impact")
    assert "royalties.creator_payouts" in page.inner_text("#readers")
    # the port page draws its column lineage: a node per column, links into the ports downstream
    page.goto(f"{url}/ports/{PORT}")
    graph = page.locator("#column-lineage-graph")
    graph.wait_for()
    assert graph.locator("g.col-node").count() > 10 and graph.locator("g.col-edge").count() > 10
    page.select_option("#lineage-column", "show_id")
    page.click("form.inline button[type=submit]")
    page.wait_for_url(re.compile(r"column=show_id"))
    assert "royalties.creator_payouts.payout_lines" in (page.locator("#column-edges").text_content() or "")
    _shot(page, "port-lineage")

    # the SQL editor: the schema browser lists what raj may read; completion writes the port's address
    page.goto(f"{url}/sql")
    assert page.locator("#schema-tree details[data-port]").count() == 0  # ports load when a domain is opened
    _open_domain(page, "podcasts")
    assert page.locator('#schema-tree details[data-port="podcasts.catalog.shows"]').count() == 1
    _open_domain(page, "films")
    assert page.locator(f'#schema-tree details[data-port="{STREAMS}"]').count() == 0  # no grant: not listed
    editor = page.locator("#sql")
    editor.fill("")
    editor.press_sequentially("SELECT count(*) AS shows FROM podcasts.cat")
    popup = page.locator("#sql-complete")
    popup.wait_for(state="visible")
    assert "podcasts.catalog" in popup.inner_text()
    editor.press("Tab")
    editor.press_sequentially(".sh")
    page.wait_for_selector('#sql-complete li[data-value="podcasts.catalog.shows"]')
    editor.press("Enter")  # takes the completion, does not submit
    assert editor.input_value() == "SELECT count(*) AS shows FROM podcasts.catalog.shows"
    assert popup.is_hidden()
    page.click("#run-sql")
    page.wait_for_selector("#sql-result")
    assert int(page.inner_text("#sql-result tbody td")) > 0
    page.fill("#save-name", "How many shows")
    page.click("#save-sql")
    page.wait_for_selector("#saved-queries a.saved-link")
    assert "How many shows" in page.inner_text("#saved-queries")
    assert "podcasts.catalog.shows" in page.inner_text("#query-history")
    # a long result scrolls inside its box instead of running down the page
    editor.fill("SELECT * FROM podcasts.catalog.shows CROSS JOIN range(20)")
    page.click("#run-sql")
    page.wait_for_selector("#sql-result")
    box = page.locator(".result-scroll")
    height = box.evaluate("e => e.clientHeight")
    assert box.evaluate("e => e.scrollHeight") > height and height < 500
    editor.fill("SELECT s. FROM podcasts.catalog.shows AS s")  # columns through the alias the query gives a port
    editor.evaluate("e => { e.setSelectionRange(9, 9); e.dispatchEvent(new Event('input')); }")
    page.wait_for_selector('#sql-complete li[data-value="s.show_id"]')
    # leaving the editor closes the list a moment later, unless the editor has the focus again by then
    page.evaluate("""() => {
        const editor = document.querySelector('#sql');
        document.querySelector('#save-name').focus();
        editor.focus();
        editor.setSelectionRange(9, 9);
        editor.dispatchEvent(new Event('input'));
    }""")
    page.wait_for_timeout(300)
    assert page.locator('#sql-complete li[data-value="s.show_id"]').is_visible()
    editor.fill("SELECT * FROM films.streams.")  # completion offers the granted port, not the ungranted one
    editor.evaluate("e => { e.setSelectionRange(28, 28); e.dispatchEvent(new Event('input')); }")
    page.wait_for_selector('#sql-complete li[data-value="films.streams.title_monthly"]')
    assert page.locator(f'#sql-complete li[data-value="{STREAMS}"]').count() == 0
    _open_domain(page, "podcasts")  # for the screenshot: a domain opened, a port's columns with their types
    page.click('#schema-tree details[data-port="podcasts.catalog.shows"] > summary')
    editor.fill("SELECT s. FROM podcasts.catalog.shows AS s")
    editor.evaluate("e => { e.setSelectionRange(9, 9); e.dispatchEvent(new Event('input')); }")
    page.wait_for_selector('#sql-complete li[data-value="s.show_id"]')
    _shot(page, "sql")
    page.context.close()


def test_manage_a_grant(browser: Any, sso_url: tuple[str, Provider], live_mesh: Path) -> None:
    url, provider = sso_url
    page = _sso_page(browser, url, provider, "raj", "/products/films.streams")
    page.click("#request-access-streams")
    page.fill("#purpose-streams", "Film royalties reconciliation")
    page.click("#port-streams form button[type=submit]")
    page.wait_for_selector("#request-status")
    with Mesh.open(live_mesh) as mesh:  # the films owner approves (their own session is not the point here)
        pending = [r for r in mesh.access.list_requests("fatima", pending=True) if r.request.port == STREAMS]
        mesh.access.approve("fatima", pending[0].id)
        request_id = pending[0].id
    page.goto(f"{url}/requests")
    row = page.locator(f"#request-{request_id}")
    assert "approved" in row.inner_text()
    row.locator("summary", has_text="Renew").click()
    row.locator("input[name=until]").fill("2099-12-31")
    row.locator("button", has_text="Ask to renew").click()
    page.wait_for_selector("#renewed")
    _shot(page, "requests")
    row = page.locator(f"#request-{request_id}")
    row.locator("button.give-up").click()
    page.wait_for_url(re.compile(r"/requests$"))
    assert "revoked" in page.locator(f"#request-{request_id}").inner_text()
    page.goto(f"{url}/sql")
    _open_domain(page, "films")
    assert page.locator(f'#schema-tree details[data-port="{STREAMS}"]').count() == 0
    page.context.close()


def test_owner_annotates_and_manages_agreements(browser: Any, live_url: str) -> None:
    owner = _page(browser, live_url, "bilal")
    owner.goto(f"{live_url}/products/podcasts.listening_events")
    owner.click("#edit-annotations")
    owner.fill("#annotation-text", "Bot traffic is filtered out since March 2026; see the quality checks.")
    owner.fill("#annotation-tags-input", "listening royalties")
    owner.click("#about form button[type=submit]")
    owner.wait_for_selector("#annotation-description")
    assert "not in the product files" in owner.inner_text("#annotation-description").lower()
    assert "#royalties" in owner.inner_text("#annotation-tags")
    _shot(owner, "annotation")
    for name in ("notifications", "tokens"):
        owner.goto(f"{live_url}/{name}")
        _shot(owner, name)
    owner.context.close()
    payouts = _page(browser, live_url, "julia")
    payouts.goto(f"{live_url}/products/royalties.creator_payouts#agreements")
    section = payouts.locator("#agreements")
    assert "approved" in section.inner_text() and section.locator("button.give-up").count() >= 1
    _shot(payouts, "agreements")
    payouts.context.close()
