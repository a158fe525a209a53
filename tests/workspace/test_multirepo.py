"""Organisation scale end to end (issue #14): separate git repositories on one platform.

A governance repository and one repository per media domain (examples/media/split_repos.py), a PostgreSQL
catalog database and an S3 bucket on moto's loopback server. Each repository checks and builds in its own
working copy; royalties reads podcasts' published port without any podcasts file; a breaking change in
podcasts is refused naming royalties; a broken royalties spec blocks neither podcasts' check nor its build;
two builders racing on one product from separate clones publish it exactly once.

Agreements (helper i11-edges) have not landed: royalties' analyst reads the restricted port through a
person-style grant (request, owner's approval), and the masks apply to what he reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import split_repos_module

from meshplane.storage import TableId
from meshplane.workspace import Mesh

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
MESHPLANE = Path(sys.executable).parent / "meshplane"
EVENTS = "podcasts.listening_events.listening_events"
EVENTS_CONTRACT = "domains/podcasts/listening_events/listening_events.odcs.yaml"
PAYOUTS = "domains/royalties/creator_payouts/product.odps.yaml"
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MESHPLANE), *args], cwd=repo, capture_output=True, text=True, timeout=600)


@pytest.fixture
def catalog_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import psycopg

    name = f"i14_orgscale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    monkeypatch.setenv("MESHPLANE_CATALOG_URL", url)
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def repos(tmp_path: Path, s3_env: Any, catalog_url: str) -> dict[str, Path]:
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), "--scale", "0.02", "--out", str(data)],
        check=True,
        capture_output=True,
    )
    bucket = s3_env.create_bucket("org")
    split: dict[str, Path] = split_repos_module().split(tmp_path / "repos", f"s3://{bucket}/media", data, git=True)
    return split


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_separate_repositories_on_one_platform(repos: dict[str, Path], tmp_path: Path) -> None:
    governance, podcasts, films, royalties = (repos[n] for n in ("governance", "podcasts", "films", "royalties"))
    for repo in repos.values():
        assert (repo / ".git").is_dir()
    assert not (royalties / "domains" / "podcasts").exists() and not (royalties / "glossary.yaml").exists()

    # The guild publishes teams, users, glossary and policies; each domain checks and builds in its own copy.
    _ok(run(governance, "check"))
    _ok(run(governance, "publish"))
    _ok(run(podcasts, "check"))
    assert "podcasts.listening_events" in _ok(run(podcasts, "build"))
    _ok(run(films, "build"))
    # royalties' build reads podcasts' restricted port: without an agreement, check stops at the input port.
    refused = run(royalties, "check")
    assert refused.returncode == 1 and "meshplane agreement request royalties.creator_payouts" in refused.stderr
    asked = _ok(run(royalties, "agreement", "request", "royalties.creator_payouts", EVENTS, "--as", "julia"))
    agreement_id = re.search(r"agreement (\S+): pending", asked)
    assert agreement_id is not None, asked
    # podcasts' owner decides from the podcasts repository: the agreement lives on the shared platform.
    _ok(run(podcasts, "agreement", "approve", agreement_id.group(1), "--as", "amelie"))
    _ok(run(royalties, "check"))
    built = _ok(run(royalties, "build"))
    assert "royalties.creator_payouts" in built and "success" in built
    assert not (royalties / "domains" / "podcasts").exists()  # read through the platform, not a file of ours

    # royalties' analyst reads podcasts' restricted port from the royalties working copy: grant, then masks.
    with Mesh.open(royalties) as mesh:
        assert mesh.platform.object_store is not None
        assert "podcasts" in mesh.spec.external_domains
        request = mesh.access.request_access("raj", EVENTS, "royalty statements per show")
        mesh.access.approve("amelie", request.id)
        answer = mesh.access.query("raj", f"SELECT listener_email FROM {EVENTS} LIMIT 20").table
        mesh.access.close()
    with Mesh.open(podcasts) as mesh:
        raw = set(mesh.read(EVENTS).column("listener_email").to_pylist())
    masked = answer.column("listener_email").to_pylist()
    assert masked and not set(masked) & raw  # hashed for the consumer

    # The platform team's checkout (no domain of its own) serves every published domain: portal and gateway.
    with Mesh.open(repos["platform"]) as mesh:
        assert {"podcasts", "films", "royalties"} <= {a.domain for a in mesh.graph.products}
        counted = mesh.access.query("raj", f"SELECT count(*) AS n FROM {EVENTS}").table
        assert counted.column("n").to_pylist()[0] > 0
        mesh.access.close()

    # A breaking change in podcasts is refused, naming the consumer registered from the royalties repository.
    contract = podcasts / EVENTS_CONTRACT
    original = contract.read_text("utf-8")
    contract.write_text(_drop_column(original, "device"), "utf-8")
    refused = run(podcasts, "check")
    assert refused.returncode == 1 and "royalties.creator_payouts" in refused.stderr
    failed = run(podcasts, "build", "podcasts.listening_events")
    assert failed.returncode == 1 and "royalties.creator_payouts" in failed.stdout + failed.stderr
    contract.write_text(original, "utf-8")

    # A broken royalties spec: royalties itself is blocked (located error) ...
    payouts = royalties / PAYOUTS
    good_payouts = payouts.read_text("utf-8")
    payouts.write_text(good_payouts.replace("inputPorts:", "inputPort:", 1), "utf-8")
    broken = run(royalties, "build")
    assert broken.returncode == 1 and f"{PAYOUTS}:" in broken.stderr
    # ... and even a broken copy of it on the platform blocks neither podcasts' check nor its build.
    _publish_broken_copy(royalties, payouts)
    _ok(run(podcasts, "check"))
    rebuilt = _ok(run(podcasts, "build", "--full-refresh", "podcasts.catalog"))
    assert "podcasts.catalog" in rebuilt and "1 built" in rebuilt

    # Two builders on separate clones race on one product: it is published exactly once.
    table = TableId.for_port("podcasts", "listening_insights", "daily_listens", 1)
    with Mesh.open(podcasts) as mesh:
        before = len(mesh.platform.tables.history(table))
    clones = []
    for n in (1, 2):
        clone = tmp_path / f"builder-{n}"
        subprocess.run(["git", "clone", "-q", str(podcasts), str(clone)], check=True)
        shutil.copytree(podcasts / "data", clone / "data")
        sql = clone / "domains/podcasts/listening_insights/daily_listens.sql"
        sql.write_text(sql.read_text("utf-8") + "\n-- reviewed\n", "utf-8")
        clones.append(clone)
    racers = [
        subprocess.Popen(
            [str(MESHPLANE), "build", "podcasts.listening_insights"],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    outputs = [r.communicate(timeout=600) for r in racers]
    assert all(r.returncode == 0 for r in racers), outputs
    with Mesh.open(clones[0]) as mesh:
        assert len(mesh.platform.tables.history(table)) == before + 1
        assert not mesh.plan(["podcasts.listening_insights"])

    # A new global policy from the guild applies at the next check of every domain repository.
    payouts.write_text(good_payouts, "utf-8")
    _ok(run(royalties, "check"))
    (governance / "policies").mkdir(exist_ok=True)
    (governance / "policies" / "freeze.yaml").write_text(FREEZE, "utf-8")
    _ok(run(governance, "publish"))
    frozen = run(royalties, "check")
    assert frozen.returncode == 1 and "[payouts-freeze]" in frozen.stderr, frozen.stderr
    _ok(run(podcasts, "check"))  # the rule does not cover podcasts' ports


FREEZE = """policies:
  - id: payouts-freeze
    title: Creator payouts are frozen during the audit
    severity: error
    subject: port
    points: [check, build]
    rule: '!subject.address.startsWith("royalties.creator_payouts")'
    message: "{{subject.address}} is frozen until the royalty audit closes"
"""


def _drop_column(text: str, column: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {column}")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip()) > indent or not lines[end].strip()):
        end += 1
    return "".join(lines[:start] + lines[end:])


def _publish_broken_copy(royalties: Path, broken: Path) -> None:
    """What the platform would hold had royalties published this file (its own builds never do)."""
    from meshplane.catalog import CatalogStore
    from meshplane.workspace.repositories import DOMAIN_PREFIX

    with Mesh.open(royalties, isolate=True) as mesh:
        url = mesh.platform.catalog_url
    catalog = CatalogStore.open(url)
    try:
        key = DOMAIN_PREFIX + "royalties"
        files = json.loads(catalog.reader.settings(key)[key])
        files[broken.relative_to(royalties).as_posix()] = broken.read_text("utf-8")
        catalog.writer.put_settings({key: json.dumps(files)})
    finally:
        catalog.close()
