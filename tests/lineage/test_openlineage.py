"""OpenLineage: builds of both examples send run events to an HTTP endpoint on loopback through
openlineage-python's HTTP transport; every event validates against the official JSON Schemas, and the
column lineage in them is what ``meshplane lineage --columns`` prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

from .receiver import Receiver, receiver

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "standards" / "openlineage"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _registry() -> Registry[Any]:
    resources = []
    for path in [SCHEMAS / "OpenLineage.json", *sorted((SCHEMAS / "facets").glob("*.json"))]:
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
KNOWN = {uri for uri in REGISTRY}


def validate(event: dict[str, Any]) -> list[str]:
    """The core schema on the event, then each facet on the schema its _schemaURL names."""
    problems = [
        e.message
        for e in Draft202012Validator({"$ref": f"{CORE}#/$defs/RunEvent"}, registry=REGISTRY).iter_errors(event)
    ]
    facet_maps = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        facet_maps += [dataset.get("facets", {}), dataset.get("inputFacets", {}), dataset.get("outputFacets", {})]
    for facets in facet_maps:
        for name, facet in facets.items():
            url = facet["_schemaURL"]
            if url.split("#")[0] not in KNOWN:
                problems.append(f"{name}: no official schema for {url}")
                continue
            validator = Draft202012Validator({"$ref": url}, registry=REGISTRY)
            problems += [f"{name}: {e.message}" for e in validator.iter_errors(facet)]
    return problems


def _copy(example: str, target: Path, url: str) -> Path:
    root = target / example
    shutil.copytree(
        ROOT / "examples" / example, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__")
    )
    subprocess.run([sys.executable, "generate.py", "--scale", "0.02"], cwd=root, check=True, capture_output=True)
    config = root / "mesh.yaml"
    config.write_text(
        config.read_text()
        + f"openlineage:\n  transport: {{type: http, url: '{url}', endpoint: api/v1/lineage}}\n  queries: true\n"
    )
    return root


@pytest.fixture(scope="module", params=["media", "pharma"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Receiver]]:
    with receiver() as got:
        root = _copy(request.param, tmp_path_factory.mktemp("ol"), got.url)
        with Mesh.open(root) as mesh:
            agree_declared_as_owners(mesh.graph, mesh.access)
            result = mesh.build(jobs=2)
            assert result.ok, [o.error for o in result.outcomes if o.error]
        yield root, got


def test_every_build_event_validates_against_the_official_schemas(built: tuple[Path, Receiver]) -> None:
    root, got = built
    events = got.bodies()
    assert events and all(r.path == "/api/v1/lineage" for r in got.requests)
    for event in events:
        assert validate(event) == [], event["job"]["name"]
    with Mesh.open(root) as mesh:
        products = {str(a) for a in mesh.graph.products}
        namespace = f"meshplane://{mesh.name}"
        runs = {r.run_id for r in mesh.runs(limit=500)}
    # One START and one COMPLETE per product, one job per product, datasets named by port address.
    jobs = {e["job"]["name"] for e in events}
    assert jobs == products
    for product in products:
        states = sorted(e["eventType"] for e in events if e["job"]["name"] == product)
        assert states == ["COMPLETE", "START"], product
    assert {e["job"]["namespace"] for e in events} == {namespace}
    from meshplane.lineage.openlineage import run_uuid

    assert {e["run"]["runId"] for e in events} == {run_uuid(namespace, r) for r in runs}
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    for event in complete:
        for output in event["outputs"]:
            assert output["name"].startswith(event["job"]["name"] + ".")
            assert {"schema", "ownership", "dataSource"} <= output["facets"].keys()
            assert output["facets"]["ownership"]["owners"][0]["name"].startswith("team:")
            assert output["outputFacets"]["outputStatistics"]["rowCount"] >= 0
        assert event["job"]["facets"]["jobType"]["integration"] == "MESHPLANE"
    # Contract checks travel as data-quality assertions, and every one passed in a successful build.
    assertions = [
        a
        for e in complete
        for o in e["outputs"]
        for a in o["facets"].get("dataQualityAssertions", {}).get("assertions", [])
    ]
    assert assertions and all(a["success"] for a in assertions)


def test_column_lineage_in_events_matches_the_cli(
    built: tuple[Path, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    from meshplane.cli.app import main

    root, got = built
    in_events = set()
    for event in got.bodies():
        if event["eventType"] != "COMPLETE":
            continue
        for output in event["outputs"]:
            for column, field in output["facets"].get("columnLineage", {}).get("fields", {}).items():
                for source in field["inputFields"]:
                    in_events.add((source["name"], source["field"], output["name"], column))
    from_cli = set()
    with Mesh.open(root) as mesh:
        ports = [str(a) for a in mesh.graph.ports]
    for port in ports:
        capsys.readouterr()
        try:
            main(["lineage", port, "--mesh", str(root), "--columns", "--upstream", "--format", "json"])
        except SystemExit as done:
            assert done.code in (0, None)
        for edge in json.loads(capsys.readouterr().out):
            if edge["downstream_port"] == port:  # the CLI walks upstream transitively; events carry one hop
                from_cli.add((edge["upstream_port"], edge["upstream_column"], port, edge["downstream_column"]))
    assert in_events and in_events == from_cli


def test_failed_and_refused_builds_send_fail_and_abort_with_the_error(tmp_path: Path) -> None:
    """A contract check that fails is a FAIL with its assertion; a build the gate refuses is an ABORT."""
    from builds.meshes import write_events, write_mesh

    root = write_mesh(tmp_path / "shop")
    log = tmp_path / "events.jsonl"
    config = root / "mesh.yaml"
    config.write_text(
        config.read_text() + f"openlineage:\n  transport: {{type: file, log_file_path: '{log}', append: true}}\n"
    )
    write_events(root, bad=3)
    with Mesh.open(root) as mesh:
        failed = mesh.build(["podcasts.listening_events"])
        assert not failed.ok
        refused = mesh.build(["podcasts.shows"], as_user="rita")  # rita owns royalties, not podcasts
        assert not refused.ok
    events = [json.loads(line) for line in log.read_text().splitlines()]
    for event in events:
        assert validate(event) == []
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert fail["job"]["name"] == "podcasts.listening_events"
    assert "contract check" in fail["run"]["facets"]["errorMessage"]["message"]
    checks = fail["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"]
    assert any(not a["success"] for a in checks)
    abort = next(e for e in events if e["eventType"] == "ABORT")
    assert abort["job"]["name"] == "podcasts.shows" and abort["run"]["facets"]["errorMessage"]["message"]
    assert [e["eventType"] for e in events if e["job"]["name"] == "podcasts.shows"] == ["START", "ABORT"]


def test_no_transport_means_no_client_import(tmp_path: Path) -> None:
    """Without configuration a build imports neither openlineage-python (~0.4 s) nor column lineage (sqlglot's
    optimizer, ~0.4 s; a build whose specs did not change has no use for it)."""
    from builds.meshes import write_mesh

    root = write_mesh(tmp_path / "shop")
    with Mesh.open(root) as mesh:
        assert mesh.build().ok  # the first build syncs the catalog, column lineage included
    code = (
        "import sys, os\n"
        "for k in list(os.environ):\n"
        "    if k.startswith('OPENLINEAGE'): del os.environ[k]\n"
        "from meshplane.workspace import Mesh\n"
        f"m = Mesh.open({str(root)!r}); r = m.build(full_refresh=True); assert r.ok; m.close()\n"
        "assert 'openlineage' not in sys.modules, 'openlineage imported'\n"
        "assert 'meshplane.lineage.columns' not in sys.modules, 'column lineage imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_consumer_queries_send_events_when_configured(built: tuple[Path, Receiver]) -> None:
    from meshplane.spec import AccessLevel

    root, got = built
    with Mesh.open(root) as mesh:
        port = next(str(a) for a, p in sorted(mesh.graph.ports.items()) if p.access_level is AccessLevel.PUBLIC)
        user = mesh.spec.config.teams[0].members[0].username
        with mesh.connect(as_user=user) as connection:
            assert connection.sql(f"SELECT count(*) AS n FROM {port}").num_rows == 1
    events = [e for e in got.bodies() if e["job"]["name"] == f"query.{user}"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert all(validate(e) == [] for e in events)
    assert [i["name"] for i in events[-1]["inputs"]] == [port]
