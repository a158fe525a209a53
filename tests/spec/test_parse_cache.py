"""Where the parse cache lives: a large mesh keeps it even with no local catalog or warehouse.

A monorepo whose catalog is PostgreSQL (and whose warehouse is remote) has no ``.meshplane/`` folder of its
own; before, every ``plan`` there parsed all of its files again. The threshold is lowered here, so the
small base mesh counts as large.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.spec import loader, schemas, yamlsafe
from meshplane.spec.loader import PARSE_CACHE, load_mesh


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files parsed in this process from now on (cache hits are not parses)."""
    seen: list[Path] = []
    real = yamlsafe.parse_yaml_text

    def counting(path: Path, text: str, **kwargs: object) -> object:
        seen.append(path)
        return real(path, text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlsafe, "parse_yaml_text", counting)
    return seen


def test_a_large_mesh_keeps_its_parse_cache_without_a_state_folder(
    base_mesh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    assert not (base_mesh / ".meshplane").exists()
    first = load_mesh(base_mesh)
    assert first.spec is not None and not first.errors
    assert (base_mesh / PARSE_CACHE).is_file()
    ignore = (base_mesh / ".meshplane" / ".gitignore").read_text()
    assert "*" in ignore.splitlines()  # the folder ignores itself: a repository without a .gitignore stays clean
    parsed = _parses(monkeypatch)
    again = load_mesh(base_mesh)
    assert again.spec is not None and not again.errors
    assert parsed == []  # every spec file came from the cache
    assert [str(p.address) for p in again.spec.products] == [str(p.address) for p in first.spec.products]


def test_the_state_folder_stays_out_of_git(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    subprocess.run(["git", "init", "-q", str(base_mesh)], check=True)
    load_mesh(base_mesh)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=base_mesh, capture_output=True, text=True
    )
    assert status.returncode == 0 and ".meshplane" not in status.stdout and "mesh.yaml" in status.stdout


def test_a_small_mesh_creates_no_state_folder(base_mesh: Path) -> None:
    result = load_mesh(base_mesh)
    assert result.spec is not None and not result.errors
    assert not (base_mesh / ".meshplane").exists()


def test_a_changed_file_is_parsed_again_and_its_problem_located(
    base_mesh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    load_mesh(base_mesh)
    domain = base_mesh / "domains" / "podcasts" / "domain.yaml"
    domain.write_text(domain.read_text().replace("owner: podcasts-team", "owner: [podcasts-team"))
    parsed = _parses(monkeypatch)
    result = load_mesh(base_mesh)
    assert parsed == [domain]
    assert [(p.location.path, p.code) for p in result.errors] == [(domain, "yaml-syntax")]


def _validations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The schema and ODCS model validations run in this process from now on: (kind, document id)."""
    seen: list[tuple[str, str]] = []
    real = schemas._validator

    class Recording:
        def __init__(self, kind: str, version: str) -> None:
            self.kind, self.real = kind, real(kind, version)

        def is_valid(self, data: dict[str, Any]) -> bool:
            seen.append((self.kind, str(data.get("id"))))
            return bool(self.real.is_valid(data))

        def iter_errors(self, data: dict[str, Any]) -> Any:
            return self.real.iter_errors(data)

    validate = OpenDataContractStandard.model_validate

    def model_validate(data: dict[str, Any]) -> OpenDataContractStandard:
        seen.append(("model", str(data.get("id"))))
        return validate(data)

    monkeypatch.setattr(schemas, "_validator", Recording)
    monkeypatch.setattr(OpenDataContractStandard, "model_validate", model_validate)
    return seen


def test_files_that_validated_are_not_validated_again(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    first = load_mesh(base_mesh)
    assert first.spec is not None and not first.errors
    model = first.spec.products[0].output_ports[0].contract.odcs
    checked = _validations(monkeypatch)
    again = load_mesh(base_mesh)
    assert again.spec is not None and not again.errors
    assert checked == []  # each file's bytes were vouched for by the first load
    # The contracts' ODCS models are built on first use, equal to the first load's.
    port = again.spec.products[0].output_ports[0]
    assert port.contract.odcs == model
    assert checked == [("model", port.contract.id)]


def test_a_changed_contract_is_validated_again_and_its_problem_located(
    base_mesh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    first = load_mesh(base_mesh)
    assert first.spec is not None
    contract = first.spec.products[0].output_ports[0].contract
    lines = contract.path.read_text().splitlines()
    contract.path.write_text("\n".join([*lines, "colour: blue", ""]))
    checked = _validations(monkeypatch)
    result = load_mesh(base_mesh)
    assert checked == [("odcs", contract.id)]
    assert [(p.location.path, p.location.line, p.code) for p in result.errors] == [
        (contract.path, len(lines) + 1, "odcs-schema")
    ]
    assert "colour" in result.errors[0].message


def test_verdicts_of_other_validators_are_not_trusted(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache written by another schema file or model version keeps its parses, not its verdicts."""
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    first = load_mesh(base_mesh)
    assert first.spec is not None
    monkeypatch.setattr(loader, "validators_stamp", lambda: "another ODCS schema")
    checked = _validations(monkeypatch)
    parsed = _parses(monkeypatch)
    again = load_mesh(base_mesh)
    assert again.spec is not None and not again.errors
    assert parsed == []
    contracts = [p.contract.id for product in first.spec.products for p in product.output_ports]
    contracts += [s.id for s in first.spec.sources]
    assert sorted(i for kind, i in checked if kind == "odcs") == sorted(contracts)
    assert sorted(i for kind, i in checked if kind == "model") == sorted(contracts)
    assert sorted(i for kind, i in checked if kind == "odps") == sorted(str(p.address) for p in first.spec.products)


def _first_load_in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first load parses in two forked workers that stream their files back two at a time."""
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    monkeypatch.setattr(loader, "_parse_workers", lambda: 2)
    monkeypatch.setattr(yamlsafe, "PREFILL_CHUNK", 2)


def test_a_first_load_takes_the_workers_parses_as_they_arrive(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = load_mesh(base_mesh)
    _first_load_in_workers(monkeypatch)
    parsed = _parses(monkeypatch)
    checked = _validations(monkeypatch)
    read: list[Path] = []
    real_read = yamlsafe.read_limited
    monkeypatch.setattr(yamlsafe, "read_limited", lambda path, limit: read.append(Path(path)) or real_read(path, limit))
    first = load_mesh(base_mesh)
    assert first.spec is not None and serial.spec is not None and not first.errors
    assert [p for p in parsed if "domains" in p.parts] == []  # every domain file came from the workers
    assert [p for p in read if "domains" in p.parts and p.suffix == ".yaml"] == []  # and was read there only
    assert [kind for kind, _ in checked if kind != "model"] == []  # and was validated there
    assert first.spec.products == serial.spec.products
    assert first.spec.sources == serial.spec.sources


def test_a_broken_file_on_a_first_load_in_workers_is_located(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contract = next((base_mesh / "domains").glob("*/*/*.odcs.yaml"))
    lines = contract.read_text().splitlines()
    contract.write_text("\n".join([*lines, "colour: blue", ""]))
    domain = base_mesh / "domains" / "podcasts" / "domain.yaml"
    domain.write_text(domain.read_text().replace("owner: podcasts-team", "owner: [podcasts-team"))
    _first_load_in_workers(monkeypatch)
    result = load_mesh(base_mesh)
    assert sorted((p.location.path, p.code) for p in result.errors) == sorted(
        [(domain, "yaml-syntax"), (contract, "odcs-schema")]
    )
    assert [p.location.line for p in result.errors if p.location.path == contract] == [len(lines) + 1]


def test_what_a_failed_worker_did_not_deliver_is_parsed_here(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = load_mesh(base_mesh)
    _first_load_in_workers(monkeypatch)
    real = yamlsafe._parse_share
    chunks: list[object] = []

    def failing_after_one_chunk(paths: list[Path], judge: Any = None) -> Any:
        chunks.append(paths)  # in each worker's own memory: its second chunk fails
        if len(chunks) > 1:
            raise RuntimeError("worker lost")
        return real(paths, judge)

    monkeypatch.setattr(yamlsafe, "_parse_share", failing_after_one_chunk)
    parsed = _parses(monkeypatch)
    first = load_mesh(base_mesh)
    assert first.spec is not None and serial.spec is not None and not first.errors
    assert first.spec.products == serial.spec.products
    domain_files = [p for p in parsed if "domains" in p.parts]
    assert domain_files and len(domain_files) == len(set(domain_files))  # the rest, each parsed once here
    parsed.clear()
    again = load_mesh(base_mesh)
    assert parsed == [] and again.spec is not None and again.spec.products == serial.spec.products


def test_links_on_a_first_load_in_workers_are_judged_as_on_any_load(
    base_mesh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract, inside = sorted((base_mesh / "domains").glob("*/*/*.odcs.yaml"))[:2]
    outside = tmp_path / "elsewhere.odcs.yaml"
    outside.write_text(contract.read_text())
    contract.unlink()
    contract.symlink_to(outside)  # leads out of the mesh: reported, never read
    copy = inside.with_name("copy.odcs.yaml.target")
    copy.write_text(inside.read_text())
    inside.unlink()
    inside.symlink_to(copy)  # stays inside the mesh: read
    serial = load_mesh(base_mesh)
    _first_load_in_workers(monkeypatch)
    first = load_mesh(base_mesh)
    found = [(p.location.path, p.code, p.message) for p in first.errors]
    assert found == [(p.location.path, p.code, p.message) for p in serial.errors]
    assert [(path, code) for path, code, _ in found] == [(contract, "outside-mesh")]
