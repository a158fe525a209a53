"""Messages that help: a breaking change said once, in words; nothing reads 'null' or 'None'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshplane.governance.engine import render_message
from meshplane.graph.diff import Change, _classification
from meshplane.workspace import Mesh


def test_a_breaking_change_is_reported_once_in_words(cli: Any, root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
    contract = root / "domains/podcasts/shows/shows.odcs.yaml"
    contract.write_text(contract.read_text().replace("      - {name: rate, logicalType: number}\n", ""))
    sql = root / "domains/podcasts/shows/shows.sql"
    sql.write_text("SELECT CAST(show_id AS VARCHAR) AS show_id, CAST(title AS VARCHAR) AS title FROM shows\n")
    result = cli("build", "--mesh", str(root))
    assert result.code == 1
    summary = result.stderr[result.stderr.index(" built, ") :]
    assert summary.count("breaking change without a new major version") == 1
    assert summary.count("column rate removed") == 1
    assert "shows.odcs.yaml:" in summary and "fix: set version: 2.0.0" in summary
    assert "{" not in summary and "podcasts.shows: podcasts.shows" not in summary


def test_a_missing_classification_reads_unclassified_and_policy_messages_say_unset() -> None:
    out: list[Change] = []
    _classification(None, "restricted", "schema[0].properties[1].classification", "shows.title", out)
    [change] = out
    assert change.message == "shows.title: classification raised unclassified -> restricted (consumers may lose access)"
    message = render_message(
        "column {{subject.address}} looks like personal data but its classification is {{subject.classification}}, "
        "not pii",
        {"subject": {"address": "crm.customers.customers.email", "classification": None}},
    )
    assert message.endswith("its classification is unset, not pii")


def test_serve_on_a_busy_port_says_so_before_printing_any_url(cli: Any, root: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--mesh", str(root), "--port", str(port), "--no-schedule")
    assert result.code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "http://" not in result.stdout + result.stderr


def test_the_demo_prints_a_consumer_token_for_someone_with_no_grants(tmp_path: Path) -> None:
    import shutil

    from meshplane.cli.serving import _demo_tokens

    media = tmp_path / "media"
    examples = Path(__file__).parents[2] / "examples" / "media"
    shutil.copytree(examples, media, ignore=shutil.ignore_patterns(".meshplane", "data"))
    with Mesh.open(media) as mesh:
        mesh.publish()
        tokens = _demo_tokens(mesh.discovery)
        [(user, _label, token)] = [t for t in tokens if "consumer, no grants yet" in t[1]]
        assert mesh.platform.catalog.reader.grants(grantee=user) == []
        assert mesh.access.user_for_token(token) == user
