"""The portal as a workplace: the SQL editor (schema browser of exactly what one may read, completion data,
history and saved queries per person), a port's column lineage drawn, managing one's grants and agreements,
and owners' annotations kept apart from the product files."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshplane.server import create_app
from meshplane.workspace import Mesh
from meshplane.workspace.workbench import COMPLETIONS
from server.conftest import TestClient
from server.helpers import CONSUMER, GOVERNANCE, OWNER, bearer

STREAMS = "films.streams.streams"  # restricted, owned by films-team (fatima, gustav)
EVENTS = "podcasts.listening_events.listening_events"
NO_DOT = shutil.which("dot") is None
BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def signed_in(client: TestClient, tokens: dict[str, str]) -> Iterator[TestClient]:
    """The client with the consumer's portal session (cookie) instead of a bearer header."""
    client.cookies.clear()
    client.post("/login", data={"username": CONSUMER, "token": tokens[CONSUMER]}, follow_redirects=False)
    yield client
    client.cookies.clear()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found
    return found.group(1)


def _completions(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="sql-schema">(.*?)</script>', page, re.S)
    assert found
    loaded: dict[str, object] = json.loads(found.group(1))
    return loaded


def _browsed(client: TestClient, headers: dict[str, str], domain: str) -> dict[str, list[list[str]]]:
    """What the schema browser shows when ``domain`` is opened: port address -> [[column, type], ...]."""
    answer = client.get(f"/sql/schema/{domain}", headers=headers)
    assert answer.status_code == 200
    return {p["address"]: p["columns"] for p in answer.json()["ports"]}


def test_schema_browser_lists_exactly_what_the_user_may_read(client: TestClient, mesh: Mesh,
                                                             tokens: dict[str, str]) -> None:  # fmt: skip
    page = client.get("/sql", headers=bearer(tokens, CONSUMER)).text
    readable = {p.address: [f.name for f in p.schema] for p in mesh.access.readable_ports(CONSUMER)}
    domains = set(re.findall(r'<details class="domain-group" data-domain="([^"]+)"', page))
    assert domains == {d.name for d in mesh.platform.catalog.reader.domains()} and "films" in domains
    assert 'data-port="' not in page  # the page decides nothing: ports come when a domain is opened
    browsed: dict[str, list[list[str]]] = {}
    for domain in domains:
        browsed |= _browsed(client, bearer(tokens, CONSUMER), domain)
    assert {a: [c[0] for c in cols] for a, cols in browsed.items()} == readable and readable
    assert STREAMS not in browsed  # restricted, no grant: neither browsed nor completed
    assert "podcasts" in _completions(page)["domains"]  # type: ignore[operator]
    films = client.get("/sql/complete?prefix=films.", headers=bearer(tokens, CONSUMER)).json()
    assert STREAMS not in films["ports"] and set(films["ports"]) == {a for a in readable if a.startswith("films.")}
    assert client.get(f"/sql/columns/{STREAMS}", headers=bearer(tokens, CONSUMER)).json()["ports"] == []
    podcasts = client.get("/sql/complete?prefix=podcasts.cat", headers=bearer(tokens, CONSUMER)).json()
    assert podcasts["products"] == ["podcasts.catalog"] and "podcasts.catalog.shows" in podcasts["ports"]
    assert all(p.startswith("podcasts.cat") for p in podcasts["ports"]) and podcasts["complete"]
    named = client.get("/sql/columns/podcasts.catalog.shows", headers=bearer(tokens, CONSUMER)).json()["ports"]
    assert [c[0] for c in named[0]["columns"]] == readable["podcasts.catalog.shows"]
    # the owner of the listening events sees them, every column unmasked; a consumer with a grant sees the
    # e-mail addresses masked, as the access decision says
    owner = _browsed(client, bearer(tokens, OWNER), "podcasts")
    assert ["listener_email", "VARCHAR"] in owner[EVENTS]
    as_kofi = {"Authorization": f"Bearer {mesh.access.create_token('kofi')[0]}"}  # kofi: royalties engineer
    assert EVENTS not in _browsed(client, as_kofi, "podcasts")  # no grant yet (and now cached)
    made = mesh.access.request_access("kofi", EVENTS, "browse")
    mesh.access.approve("amelie", made.id)
    try:
        kofi = _browsed(client, as_kofi, "podcasts")  # the new grant shows at once, not after the cache expires
        decision = mesh.access.policy.decide(mesh.access.directory.principal("kofi"), mesh.access.policy.target(EVENTS))
        assert "listener_email" in decision.masks
        for column, kind in decision.masks.items():
            assert [column, f"masked ({kind})"] in kofi[EVENTS]
    finally:
        mesh.access.revoke("amelie", made.id)


def test_sql_page_decides_no_port_on_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a mesh of many ports the editor page asks the access decision about none of them; opening a domain
    asks about that domain's ports only, completion about the ports matching what was typed, at most a bound."""
    monkeypatch.syspath_prepend(str(BENCH))  # the bench's mesh generator, and its helpers beside it
    spec = importlib.util.spec_from_file_location("meshplane_bench_build", BENCH / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, build)  # its dataclasses look their module up while defined
    spec.loader.exec_module(build)
    build.generated_mesh(tmp_path / "generated", 240, per_domain=80)  # 3 domains of 80 products, a port each
    with Mesh.open(tmp_path / "generated") as many:
        many.publish()
        policy = many.access.policy
        decided: list[str] = []
        decide = policy.decide

        def counted(principal: Any, target: Any, **kwargs: Any) -> Any:
            decided.append(str(target.address))
            return decide(principal, target, **kwargs)

        monkeypatch.setattr(policy, "decide", counted)
        headers = {"Authorization": f"Bearer {many.access.create_token('u_d000')[0]}"}
        with TestClient(create_app(many, dev_mode=True), base_url="http://testserver") as web:
            page = web.get("/sql", headers=headers)
            assert page.status_code == 200 and decided == []
            assert re.findall(r'data-domain="([^"]+)"', page.text) == ["d000", "d001", "d002"]
            assert "80 products, 80 ports" in page.text
            ports = _browsed(web, headers, "d001")
            assert len(decided) == 80 and all(a.startswith("d001.") for a in decided)
            assert len(ports) == 80  # tiny products are public: all readable
            decided.clear()
            found = web.get("/sql/complete?prefix=d002.p0017", headers=headers).json()
            assert found["ports"] == [f"d002.p0017{n}.p0017{n}" for n in range(10)] and found["complete"]
            assert len(decided) == 10  # only the ports matching the prefix
            decided.clear()
            bounded = web.get("/sql/complete?prefix=d002.", headers=headers).json()
            assert len(bounded["ports"]) == COMPLETIONS and not bounded["complete"]
            assert len(decided) == COMPLETIONS  # stops at the bound, not at the domain's 80
            decided.clear()
            assert web.get("/sql/complete?prefix=d0", headers=headers).json()["ports"] == [] and decided == []
            decided.clear()
            web.get("/sql/columns/d000.p00003", headers=headers)  # a product: its ports
            assert decided == ["d000.p00003.p00003"]


def test_history_and_saved_queries_are_per_person(signed_in: TestClient, client: TestClient,
                                                  tokens: dict[str, str]) -> None:  # fmt: skip
    page = signed_in.get("/sql").text
    csrf = _csrf(page)
    sql = "SELECT count(*) AS shows FROM podcasts.catalog.shows"
    ran = signed_in.post("/sql", data={"sql": sql, "csrf": csrf})
    assert ran.status_code == 200 and 'class="result-scroll"' in ran.text and 'id="sql-result"' in ran.text
    bad = signed_in.post("/sql", data={"sql": f"SELECT * FROM {STREAMS}", "csrf": csrf})
    assert bad.status_code == 400 and 'id="sql-error"' in bad.text
    history = bad.text.split('id="query-history"', 1)[1]
    assert "podcasts.catalog.shows" in history and STREAMS in history and "failed" in history
    entry = re.search(r'href="/sql\?history=(\d+)" title="SELECT count', history)
    assert entry
    assert sql in signed_in.get(f"/sql?history={entry.group(1)}").text  # reopened in the editor
    others = client.get("/sql", headers=bearer(tokens, OWNER))
    assert "podcasts.catalog.shows" not in others.text.split('id="query-history"', 1)[1]
    assert client.get(f"/sql?history={entry.group(1)}", headers=bearer(tokens, OWNER)).status_code == 404

    saved = signed_in.post("/sql/saved", data={"sql": sql, "name": "Shows count", "csrf": csrf},
                           follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    query_id = saved.headers["location"].split("saved=", 1)[1]
    again = signed_in.post("/sql/saved", data={"sql": sql + " WHERE true", "name": "Shows count", "csrf": csrf},
                           follow_redirects=False)  # fmt: skip
    assert again.headers["location"].endswith(query_id)  # the same name replaces
    opened = signed_in.get(f"/sql?saved={query_id}").text
    assert "WHERE true" in opened and 'value="Shows count"' in opened
    assert client.get(f"/sql?saved={query_id}", headers=bearer(tokens, OWNER)).status_code == 404
    foreign = client.post(
        f"/sql/saved/{query_id}/delete", headers={**bearer(tokens, OWNER), "origin": "http://testserver"}
    )
    assert foreign.status_code == 404
    assert signed_in.post("/sql/saved", data={"sql": sql, "name": " ", "csrf": csrf}).status_code == 400
    signed_in.post(f"/sql/saved/{query_id}/delete", data={"csrf": csrf})
    assert f"saved={query_id}" not in signed_in.get("/sql").text
    signed_in.post("/sql/history/clear", data={"csrf": csrf})
    assert "Queries you run appear here" in signed_in.get("/sql").text


@pytest.mark.skipif(NO_DOT, reason="Graphviz `dot` (apt-get install graphviz)")
def test_port_page_draws_column_lineage(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get(f"/ports/{EVENTS}", headers=bearer(tokens, CONSUMER))
    assert page.status_code == 200
    svg = page.text.split('<svg id="column-lineage-graph"', 1)[1].split("</svg>", 1)[0]
    # a downstream column computed from show_id, drawn as a node with an arrow into it
    assert "royalties.creator_payouts.payout_lines" in svg and 'class="col-edge"' in svg
    assert "<title>podcasts.listening_events.listening_events.show_id</title>" in svg
    one = client.get(f"/ports/{EVENTS}?column=show_id", headers=bearer(tokens, CONSUMER)).text
    assert "#ffbf47" in one  # the chosen column stands out
    assert client.get("/ports/podcasts.nope.nope", headers=bearer(tokens, CONSUMER)).status_code == 404
    assert client.get("/ports/podcasts.listening_events", headers=bearer(tokens, CONSUMER)).status_code == 404


def test_give_up_and_renew_a_grant(signed_in: TestClient, mesh: Mesh) -> None:
    made = mesh.access.request_access(CONSUMER, STREAMS, "film royalties check")
    mesh.access.approve("fatima", made.id)
    page = signed_in.get("/requests").text
    row = page.split(f'id="request-{made.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Give up" in row and "Renew" in row
    csrf = _csrf(page)
    renewed = signed_in.post(f"/requests/{made.id}/renew", data={"until": "2099-01-31", "csrf": csrf},
                             follow_redirects=False)  # fmt: skip
    assert renewed.status_code == 303
    new_id = renewed.headers["location"].split("renewed=", 1)[1]
    again = mesh.platform.catalog.reader.access_request(new_id)
    assert again is not None and again.port == STREAMS and again.status.value == "pending"
    assert again.until is not None and again.until.year == 2099 and f"renewal of {made.id}" in again.purpose
    listed = signed_in.get("/requests").text.split(f'id="request-{new_id}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>2099-01-31</td>" in listed  # the last day with access, as asked
    assert signed_in.post(f"/requests/{made.id}/withdraw", data={"csrf": csrf}).status_code == 200
    assert not [g for g in mesh.access.grants(CONSUMER, STREAMS) if g.request_id == made.id]
    assert mesh.platform.catalog.reader.access_request(made.id).status.value == "revoked"  # type: ignore[union-attr]
    mesh.access.revoke(CONSUMER, new_id)
    # someone else's request: nothing to renew
    foreign = mesh.access.request_access("chen", STREAMS, "another person's")
    assert signed_in.post(f"/requests/{foreign.id}/renew", data={"csrf": csrf}).status_code == 404
    mesh.access.revoke("chen", foreign.id)


def test_owners_give_up_renew_and_request_agreements(client: TestClient, mesh: Mesh, tokens: dict[str, str]) -> None:
    consumer = "royalties.creator_payouts"
    held = [a for a in mesh.access.list_agreements(consumer, EVENTS) if a.request.status.value == "approved"]
    assert held
    agreement = held[0].request
    headers = {**bearer(tokens, CONSUMER), "origin": "http://testserver"}  # raj: royalties-team, its owners
    page = client.get(f"/products/{consumer}", headers=headers).text
    section = page.split('id="agreements"', 1)[1].split("</section>", 1)[0]
    assert f"/agreements/{agreement.id}/give-up" in section and 'id="request-agreement"' in section
    # the podcasts owner sees the agreement on their port's page, but may not give it up for royalties
    assert client.post(f"/agreements/{agreement.id}/give-up", headers={**bearer(tokens, OWNER),
                       "origin": "http://testserver"}).status_code == 404  # fmt: skip
    try:
        given = client.post(f"/agreements/{agreement.id}/give-up", headers=headers, follow_redirects=False)
        assert given.status_code == 303, given.text
        assert mesh.platform.catalog.reader.access_request(agreement.id).status.value == "revoked"  # type: ignore[union-attr]
        renewed = client.post(f"/agreements/{agreement.id}/renew", headers=headers, data={"until": "2099-06-30"},
                              follow_redirects=False)  # fmt: skip
        assert renewed.status_code == 303, renewed.text
        pending = [a for a in mesh.access.list_agreements(consumer, EVENTS) if a.request.status.value == "pending"]
        assert len(pending) == 1 and pending[0].request.columns == agreement.columns
        # a second request while one is pending is refused with the workflow's own message
        refused = client.post(f"/products/{consumer}/agreements", headers=headers, data={"reads": EVENTS})
        assert refused.status_code == 400 and "pending" in refused.text
    finally:  # leave the agreement in force for the other tests' builds
        for view in mesh.access.list_agreements(consumer, EVENTS):
            if view.request.status.value == "pending":
                mesh.access.approve("amelie", view.request.id)


def test_owners_annotate_their_products_apart_from_the_files(client: TestClient, mesh: Mesh,
                                                             tokens: dict[str, str]) -> None:  # fmt: skip
    product = "podcasts.listening_events"
    files = Path(mesh.spec.root) / "domains" / "podcasts" / "listening_events" / "product.odps.yaml"
    before = files.read_text()
    owner = {**bearer(tokens, OWNER), "origin": "http://testserver"}
    consumer = {**bearer(tokens, CONSUMER), "origin": "http://testserver"}
    assert client.post(f"/products/{product}/annotate", headers=consumer,
                       data={"description": "not mine"}).status_code == 403  # fmt: skip
    done = client.post(
        f"/products/{product}/annotate",
        headers=owner,
        follow_redirects=False,
        data={"description": "Bots are filtered since March.", "tags": "listening, #royalties"},
    )
    assert done.status_code == 303
    page = client.get(f"/products/{product}", headers=bearer(tokens, CONSUMER)).text
    note = page.split('id="annotation-description"', 1)[1].split("</div>", 1)[0]
    assert "Annotation, not in the product files" in note and "Bots are filtered since March." in note
    assert f"by {OWNER}" in note
    tags = page.split('id="annotation-tags"', 1)[1].split("</div>", 1)[0]
    assert "#listening" in tags and "#royalties" in tags
    assert files.read_text() == before  # the product files never change
    assert 'id="edit-annotations"' not in page  # the consumer is offered no editor
    bad = client.post(f"/products/{product}/annotate", headers=owner, data={"description": "kept", "tags": "x" * 60})
    assert bad.status_code == 400 and "tags are single words" in bad.text
    steward = {**bearer(tokens, GOVERNANCE), "origin": "http://testserver"}
    client.post(f"/products/{product}/annotate", headers=steward, data={"description": "", "tags": ""})
    cleared = client.get(f"/products/{product}", headers=bearer(tokens, CONSUMER)).text
    assert 'id="annotation-description"' not in cleared and 'id="annotation-tags"' not in cleared


@pytest.mark.skipif(NO_DOT, reason="Graphviz `dot` (apt-get install graphviz)")
def test_column_graph_marks_sources_and_links_other_ports() -> None:
    from meshplane.lineage import ColumnEdge
    from meshplane.server.column_graph import column_lineage_svg

    edges = [ColumnEdge("shop.sources.orders", "id", "shop.orders.orders", "order_id"),
             ColumnEdge("shop.orders.orders", "order_id", "bill.invoices.lines", "order_ref")]  # fmt: skip
    svg = str(
        column_lineage_svg("shop.orders.orders", edges, {"shop.orders.orders", "bill.invoices.lines"}, "order_id")
    )
    assert "shop.sources.orders (source)" in svg and "bill.invoices.lines (source)" not in svg
    assert 'href="/ports/bill.invoices.lines#column-lineage"' in svg  # another port's box opens its page
    assert 'href="/ports/shop.sources.orders' not in svg and 'href="/ports/shop.orders.orders' not in svg
    assert svg.count('class="col-edge"') == 2 and 'class="node"' not in svg
