"""The glossary browser and the impact page of a port, as the portal shows them."""

from __future__ import annotations

import re

from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import CONSUMER, OWNER, bearer

PORT = "podcasts.listening_events.listening_events"
OUTSIDER = "gustav"  # films-team engineer: decides nothing in podcasts


def _cells(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"')[1].split("</table>")[0] if table_id in page else ""


def _items(page: str, list_id: str) -> list[str]:
    block = page.split(f'id="{list_id}"')[1].split("</ul>")[0]
    return [re.sub(r"<[^>]+>", "", item) for item in re.findall(r"<li>(.*?)</li>", block)]


def test_glossary_lists_terms_columns_and_joins(client: TestClient, tokens: dict[str, str]) -> None:
    index = client.get("/glossary", headers=bearer(tokens, CONSUMER))
    assert index.status_code == 200
    for term in ("show_id", "title_id", "rights_holder_id", "country_code"):
        assert f'href="/glossary/{term}"' in index.text
    term = client.get("/glossary/show_id", headers=bearer(tokens, CONSUMER)).text
    columns = _cells(term, "term-columns")
    assert "podcasts.catalog.shows" in columns and "podcasts.listening_events.listening_events" in columns
    joins = _cells(term, "term-joins")
    # royalties joins podcasts' listening events with the shows catalogue on show_id (inside a CTE)
    assert "royalties.creator_payouts.payout_lines" in joins and "podcasts.listening_insights.daily_listens" in joins
    assert "podcasts.catalog.shows.show_id" in joins
    title = client.get("/glossary/title_id", headers=bearer(tokens, CONSUMER)).text
    assert "films.catalog.titles.title_id" in _cells(title, "term-joins")
    lonely = client.get("/glossary/household_id", headers=bearer(tokens, CONSUMER)).text
    assert "No SQL transform joins" in lonely
    assert client.get("/glossary/no_such_term", headers=bearer(tokens, CONSUMER)).status_code == 404
    assert client.get("/glossary", follow_redirects=False).status_code == 303  # signed-in users only


def test_product_page_links_terms_and_impact(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/products/podcasts.listening_events", headers=bearer(tokens, CONSUMER)).text
    assert 'href="/glossary/show_id"' in page and f'href="/ports/{PORT}/impact"' in page


def test_impact_page_shows_readers_downstream_and_grants_by_authority(
    client: TestClient, mesh: Mesh, tokens: dict[str, str]
) -> None:
    access = mesh.access
    request = access.request_access(OUTSIDER, PORT, "impact page test")
    access.approve("amelie", request.id)
    try:
        as_owner = client.get(f"/ports/{PORT}/impact", headers=bearer(tokens, OWNER))
        assert as_owner.status_code == 200
        readers = _cells(as_owner.text, "readers")
        assert "royalties.creator_payouts" in readers and "podcasts.listening_insights" in readers
        assert "royalties-team" in readers  # whom to tell
        downstream = _cells(as_owner.text, "downstream")
        assert "royalties.creator_payouts" in downstream
        assert any(c.startswith("royalties.creator_payouts.payout_lines.") for c in _items(as_owner.text, "columns"))
        assert OUTSIDER in _items(as_owner.text, "consumers")  # the podcasts team decides this port: it sees
        as_consumer = client.get(f"/ports/{PORT}/impact", headers=bearer(tokens, CONSUMER)).text
        assert OUTSIDER not in _items(as_consumer, "consumers")  # not a decider: holders stay hidden
        authority = mesh.discovery.authority
        raj = mesh.discovery.principal(CONSUMER)
        assert raj is not None and not authority.may_see_grants(raj, PORT, OUTSIDER)
        outsider = mesh.platform.catalog.writer.create_token(OUTSIDER, name="tests")[0]
        own = client.get(f"/ports/{PORT}/impact", headers={"Authorization": f"Bearer {outsider}"})
        assert own.status_code == 200 and OUTSIDER in _items(own.text, "consumers")  # one's own grant
    finally:
        access.revoke("amelie", request.id, "test over")
    one_column = client.get(f"/ports/{PORT}/impact?column=listener_email", headers=bearer(tokens, OWNER)).text
    assert 'value="listener_email" selected' in one_column
    everything = client.get(f"/ports/{PORT}/impact", headers=bearer(tokens, OWNER)).text
    assert len(_items(one_column, "columns")) < len(_items(everything, "columns"))
    assert client.get(f"/ports/{PORT}/impact?column=nope", headers=bearer(tokens, OWNER)).status_code == 404
    assert client.get("/ports/podcasts.nothing.here/impact", headers=bearer(tokens, OWNER)).status_code == 404
