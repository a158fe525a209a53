"""Search: the same ranking and facets from FTS5 and from PostgreSQL full text."""

from __future__ import annotations

import pytest

from meshplane.catalog import CatalogStore, SearchKind


def test_name_hits_rank_above_description_hits(synced: CatalogStore) -> None:
    result = synced.reader.search("listening")
    addresses = [h.address for h in result.hits]
    # named "listening..." beats "derived from listening events" / "computed from listening time"
    assert addresses.index("podcasts.listening_events") < addresses.index("royalties.payouts")
    assert addresses[0] in {"podcasts.listening_events", "podcasts.listening_insights"}
    assert result.hits[0].score >= result.hits[-1].score
    payouts = next(h for h in result.hits if h.address == "royalties.payouts")
    assert "listening time" in payouts.snippet


def test_prefix_and_all_words_match(synced: CatalogStore) -> None:
    r = synced.reader
    assert r.search("listeni").total == r.search("listening").total > 0
    assert r.search("listen").total > r.search("listening").total  # listener_id, listener_email too
    assert {h.address for h in r.search("royalty payouts").hits} >= {"royalties.payouts"}
    assert r.search("payouts zebra").total == 0
    assert r.search("zzzz").hits == ()


def test_finds_columns_tags_owners_and_glossary_terms(synced: CatalogStore) -> None:
    r = synced.reader
    email = r.search("email").hits[0]
    assert email.kind is SearchKind.COLUMN
    assert email.address == "podcasts.listening_events.listening_events.listener_email"
    assert email.classification == "pii" and email.domain == "podcasts" and email.access_level == "restricted"
    assert r.search("finance").hits[0].address == "royalties.payouts"  # a tag
    assert {h.address for h in r.search("royalties-team", filters={"kind": ["product"]}).hits} == {
        "royalties.payouts"}  # fmt: skip
    glossary = r.search("listener identifier").hits
    assert glossary[0].address == "glossary:listener_id" and glossary[0].kind is SearchKind.GLOSSARY
    # a column tagged with the semantic type is found through the term's name
    assert "podcasts.listening_events.listening_events.listener_id" in {h.address for h in r.search("listener_id").hits}


def test_facets_and_filters(synced: CatalogStore) -> None:
    r = synced.reader
    result = r.search("listening")
    assert set(result.facets) == {"kind", "domain", "classification", "status", "access_level"}
    assert sum(result.facets["kind"].values()) == result.total
    assert result.facets["domain"]["podcasts"] >= 2 and result.facets["domain"]["royalties"] == 1
    products = r.search("listening", filters={"kind": ["product"]})
    assert {h.kind for h in products.hits} == {SearchKind.PRODUCT} and products.total == 3
    product = next(h for h in products.hits if h.address == "podcasts.listening_events")
    assert (product.status, product.access_level, product.classification) == ("active", "restricted", "pii")
    assert r.search("listening", filters={"kind": ["product"], "status": ["draft"]}).total == 1
    pii = r.search("", filters={"classification": ["pii"]})
    assert [h.address for h in pii.hits] == [
        "podcasts.listening_events", "podcasts.listening_events.listening_events",
        "podcasts.listening_events.listening_events.listener_email"]  # fmt: skip
    assert pii.facets["classification"] == {"pii": 3}
    assert r.search("", filters={"domain": ["royalties"], "kind": ["port"]}).total == 1
    assert r.search("listening", filters={"domain": []}).total == result.total  # empty filter: no filter
    with pytest.raises(ValueError, match="unknown search facet"):
        r.search("x", filters={"colour": ["red"]})


def test_paging_and_hostile_input(synced: CatalogStore) -> None:
    r = synced.reader
    every = r.search("podcasts", limit=100).hits
    page = r.search("podcasts", limit=2, offset=1).hits
    assert page == every[1:3]
    for text in ('"', "NEAR(a b)", "listening OR *", "a:* & !b", "'; DROP TABLE mp_products; --", "ü*", "^-"):
        r.search(text)  # never a syntax error
    assert r.search("listening OR zzz").total == 0  # OR is a word here, not an operator
    assert r.products()  # still there
