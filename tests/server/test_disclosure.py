"""Every output path goes through the access decision: check-failure samples, run errors and who holds grants
leave the platform only for those the authority lets see them (REST and portal alike).

tv.viewership's latest run recorded a failing check with sample rows and a later run failed with a cast error
quoting a value, both holding canaries; hannah and ivan (tv-team) own it, raj and the governance lead do not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from meshplane.catalog import CheckResult, RunStatus
from meshplane.workspace import Mesh
from server.conftest import TestClient

PRODUCT = "tv.viewership"
PORT = "tv.viewership.programme_ratings"
CANARY_SAMPLE = "CANARY-SAMPLE-viewer@example.com"
CANARY_ERROR = "CANARY-ERROR-4242"
OWNERS = ("hannah", "ivan")
OTHERS = ("raj", "gina", "bilal")


@pytest.fixture(scope="module")
def people(mesh: Mesh) -> Iterator[dict[str, dict[str, str]]]:
    writer = mesh.platform.catalog.writer
    ok = writer.start_run(PRODUCT)
    failing = CheckResult(rule_id="ratings_positive", port=PORT, passed=False, metric="rows", observed=1.0,
                          threshold="mustBe 0", severity="warning",
                          sample=({"programme_id": CANARY_SAMPLE, "rating": -1},))  # fmt: skip
    writer.finish_run(ok.run_id, RunStatus.SUCCESS, rows_written=10, check_results=[failing])
    bad = writer.start_run(PRODUCT)
    writer.finish_run(bad.run_id, RunStatus.FAILED,
                      error=f"Conversion Error: Could not convert string '{CANARY_ERROR}' to INT32")  # fmt: skip
    yield {u: {"Authorization": f"Bearer {writer.create_token(u, name='disclosure')[0]}"} for u in OWNERS + OTHERS}
    # later tests see the product healthy again
    fixed = writer.start_run(PRODUCT)
    writer.finish_run(fixed.run_id, RunStatus.SUCCESS, rows_written=10)


def _views(client: TestClient, auth: dict[str, str]) -> dict[str, str]:
    return {
        "product": client.get(f"/api/v1/products/{PRODUCT}", headers=auth).text,
        "quality": client.get(f"/api/v1/quality/{PORT}", headers=auth).text,
        "runs": client.get(f"/api/v1/runs?product={PRODUCT}", headers=auth).text,
        "all runs": client.get("/api/v1/runs", headers=auth).text,
        "domain": client.get("/api/v1/domains/tv", headers=auth).text,
        "portal": client.get(f"/products/{PRODUCT}", headers=auth).text,
        "portal domain": client.get("/domains/tv", headers=auth).text,
    }


@pytest.mark.parametrize("user", OTHERS)
def test_non_owners_see_no_sample_and_no_error_text(client: TestClient, people: dict[str, dict[str, str]],
                                                    user: str) -> None:  # fmt: skip
    for view, text in _views(client, people[user]).items():
        assert CANARY_SAMPLE not in text, (user, view)
        assert CANARY_ERROR not in text, (user, view)
    runs = client.get(f"/api/v1/runs?product={PRODUCT}", headers=people[user]).json()
    failed = next(r for r in runs if r["status"] == "failed")
    assert failed["error"].startswith("the build failed: a value could not be converted")


@pytest.mark.parametrize("user", OWNERS)
def test_owners_see_samples_and_errors(client: TestClient, people: dict[str, dict[str, str]], user: str) -> None:
    views = _views(client, people[user])
    assert CANARY_SAMPLE in views["product"] and CANARY_SAMPLE in views["quality"]
    assert CANARY_ERROR in views["runs"]


def test_grant_holders_only_for_deciders(client: TestClient, mesh: Mesh) -> None:
    writer = mesh.platform.catalog.writer
    port = "podcasts.listening_events.listening_events"
    request = writer.create_access_request("kofi", port, "impact visibility")
    writer.approve_access_request(request.id, "amelie")
    try:
        tokens = {u: writer.create_token(u, name="impact")[0] for u in ("bilal", "gina", "raj")}
        for user, sees in (("bilal", True), ("gina", True), ("raj", False)):
            impact = client.get(f"/api/v1/impact/{port}", headers={"Authorization": f"Bearer {tokens[user]}"})
            assert impact.status_code == 200
            assert ("kofi" in impact.json()["consumers"]) is sees, user
    finally:
        writer.revoke_access(request.id, "amelie")


@pytest.mark.parametrize("user", OWNERS + OTHERS)
def test_cli_runs_shows_errors_through_the_same_decision(mesh: Mesh, people: dict[str, dict[str, str]], user: str,
                                                         client: TestClient, capsys: pytest.CaptureFixture[str]
                                                         ) -> None:  # fmt: skip
    """``meshplane runs --as USER`` shows exactly what ``/api/v1/runs`` shows USER (one redaction rule)."""
    from meshplane.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["runs", PRODUCT, "--mesh", str(mesh.root), "--format", "json", "--as", user, "--limit", "10"])
    assert not done.value.code
    shown = {r["run_id"]: r["error"] for r in json.loads(capsys.readouterr().out)}
    api = client.get(f"/api/v1/runs?product={PRODUCT}&limit=10", headers=people[user]).json()
    assert shown == {r["run_id"]: (r["error"] or "")[:200] for r in api}
    assert any(CANARY_ERROR in error for error in shown.values()) is (user in OWNERS)
