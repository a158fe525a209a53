"""Product and column lineage of the media example, impact analysis, and `meshplane lineage`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.graph import MeshGraph
from meshplane.lineage import ColumnEdge, Direction, column_lineage, impact_of, lineage_of, product_edges
from meshplane.workspace import check_mesh

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"
EVENTS = "podcasts.listening_events.listening_events"


@pytest.fixture(scope="module")
def graph() -> MeshGraph:
    report = check_mesh(MEDIA)
    assert report.ok and report.graph is not None
    return report.graph


def test_product_edges_cross_domains(graph: MeshGraph) -> None:
    edges = product_edges(graph)
    cross = {(e.port, e.downstream) for e in edges if e.cross_domain and not e.source}
    assert (EVENTS, "royalties.creator_payouts") in cross
    assert ("films.catalog.titles", "royalties.creator_payouts") in cross
    assert all(e.source for e in edges if e.upstream.split(".")[1] == "sources")


def test_lineage_both_ways(graph: MeshGraph) -> None:
    up = lineage_of(graph, "royalties.creator_payouts", Direction.UPSTREAM)
    assert {"podcasts.listening_events", "films.streams", "films.catalog", "royalties.rights_holders"} <= set(
        up.addresses(kind="product"))  # fmt: skip
    assert "podcasts.sources.hosting_listens" in up.addresses(kind="source")
    assert all(n.depth <= 0 for n in up.nodes)
    down = lineage_of(graph, EVENTS, Direction.DOWNSTREAM)  # a port address means its product
    assert down.focus == "podcasts.listening_events"
    assert set(down.addresses()) == {"podcasts.listening_insights", "royalties.creator_payouts"}
    one = lineage_of(graph, "royalties.creator_payouts", Direction.UPSTREAM, depth=1)
    assert "podcasts.sources.hosting_listens" not in one.addresses()


def test_column_lineage_follows_aliases_ctes_and_star(graph: MeshGraph) -> None:
    edges = set(column_lineage(graph))
    # through a CTE, an alias and a CASE
    assert ColumnEdge(EVENTS, "seconds_listened", "royalties.creator_payouts.payout_lines", "usage_quantity") in edges
    assert ColumnEdge("royalties.rights_holders.royalty_rates", "rate_per_listened_hour",
                      "royalties.creator_payouts.payout_lines", "amount") in edges  # fmt: skip
    # SELECT * over a CTE expands through the contract's columns
    by_country = "podcasts.listening_insights.audience_by_country"
    assert ColumnEdge(EVENTS, "country_code", by_country, "country_code") in edges
    # a Python transform has product lineage but no column lineage
    assert not [e for e in edges if e.downstream_port == "royalties.creator_payouts.monthly_payouts"]


def test_impact_of_a_column(graph: MeshGraph) -> None:
    impact = impact_of(graph, f"{EVENTS}.listener_id", grants=[(EVENTS, "raj"), ("tv.schedule.programmes", "x")])
    assert impact.products == ("podcasts.listening_insights", "royalties.creator_payouts")
    assert impact.columns == ("podcasts.listening_insights.audience_by_country.listeners",
                              "podcasts.listening_insights.daily_listens.unique_listeners")  # fmt: skip
    assert impact.consumers == ("raj",)


def test_cli(tmp_path: Path) -> None:
    _register_commands()
    runner = CliRunner()
    result = runner.invoke(cli_app, ["lineage", "podcasts.listening_events", "--downstream", "--mesh", str(MEDIA)])
    assert result.exit_code == 0, result.output
    assert "royalties.creator_payouts" in result.output and "[cross-domain]" in result.output
    columns = runner.invoke(cli_app, ["lineage", f"{EVENTS}.listener_id", "--columns", "--mesh", str(MEDIA)])
    assert f"{EVENTS}.listener_id → podcasts.listening_insights.daily_listens.unique_listeners" in columns.output
    both = runner.invoke(cli_app, ["lineage", "podcasts.x", "--upstream", "--downstream", "--mesh", str(MEDIA)])
    assert both.exit_code != 0
