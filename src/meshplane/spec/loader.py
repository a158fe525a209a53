"""Load every file of a mesh into a :class:`MeshSpec`, collecting all problems in one pass."""

from __future__ import annotations

import difflib
import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meshplane.spec.contracts import model_verdict, read_contract, snake_case
from meshplane.spec.documents import read_mapping, read_model
from meshplane.spec.models import (
    NAME_PATTERN,
    ContractSpec,
    DomainConfig,
    DomainSpec,
    GlossaryConfig,
    MeshConfig,
    MeshSpec,
    ProductSpec,
)
from meshplane.spec.paths import files_named, is_dir, is_file, is_link, listing, outside_mesh, within_mesh
from meshplane.spec.products import PRODUCT_FILE, read_product
from meshplane.spec.schemas import schema_verdict, validate_document, validators_stamp
from meshplane.spec.yamlsafe import YamlDocument, parse_cache
from meshplane.types import Problem, Severity, SourceLocation

__all__ = ["LoadResult", "load_mesh"]

RESERVED_DIRS = frozenset({"sources", "policies"})


class LoadResult:
    """The spec (when loading got far enough) and every problem found."""

    def __init__(self, spec: MeshSpec | None, problems: list[Problem]) -> None:
        self.spec = spec
        self.problems = sorted(problems, key=lambda p: (p.location, p.message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def _sources(domain_dir: Path, domain: str, problems: list[Problem], unloaded: set[str]) -> list[ContractSpec]:
    found: list[ContractSpec] = []
    for path in sorted((domain_dir / "sources").glob("*.odcs.yaml")):
        expected = f"{domain}.sources.{path.name.removesuffix('.odcs.yaml')}"
        contract = _source(path, expected, problems)
        if contract is None or contract.id != expected or contract.server is None:
            unloaded.add(expected)
        else:
            found.append(contract)
    return found


def _source(path: Path, expected: str, problems: list[Problem]) -> ContractSpec | None:
    document = read_mapping(path, problems)
    if document is None:
        return None
    schema_problems = validate_document(document, "odcs", "ODCS source contract")
    problems.extend(schema_problems)
    if schema_problems:
        return None
    return read_contract(document, expected, is_source=True, problems=problems)


# Parsed spec files, reused while their bytes are unchanged: in the mesh's local state folder when it has one
# (a local catalog or warehouse), and for a large mesh in any case: a monorepo with a PostgreSQL catalog and
# a remote warehouse keeps no other state, yet parsing its 30,000 files is most of every `plan` there.
PARSE_CACHE = Path(".meshplane") / "cache" / "specs.marshal"


# Meshes this large keep their specs out of the cycle collector's generations after loading.
FREEZE_PRODUCTS = 1_000


class _Loading:
    freeze = False


@contextmanager
def _collector_paused() -> Iterator[_Loading]:
    """Loading allocates millions of long-lived objects and no garbage cycles worth collecting: with the
    cycle collector running, its full passes over the growing heap cost a quarter of loading a
    10,000-product mesh. Paused while loading; for a large mesh the surviving objects are then moved out
    of the collected generations (``gc.freeze``), so later collections do not rescan the loaded specs.
    Small meshes skip the freeze: a long-running process that reloads them must still collect old ones."""
    state = _Loading()
    if not gc.isenabled():
        yield state
        return
    gc.disable()
    try:
        yield state
    finally:
        gc.enable()
        if state.freeze:
            gc.freeze()


# A first load of a mesh of at least this many spec files parses them in forked workers (one per CPU, at most 4).
PARALLEL_PARSE_FILES = 2000


def _domain_folders(root: Path) -> tuple[list[Path], int]:
    """The domain folders whose files a first load's parse workers read ahead, and how many spec files they hold
    at least (two per product folder: its product file and a port contract), from one listing per domain folder.

    Called within :func:`within_mesh`: each folder is listed once for the whole load, and the load itself then
    finds its files, links and orphans in the same listings; the workers list each domain's product folders."""
    folders: list[Path] = []
    files = 0
    domains = root / "domains"
    for name in listing(domains) or []:
        domain = domains / name
        if is_dir(domain):
            folders.append(domain)
            files += 2 * len(listing(domain) or [])
    return folders, files


def _domain_files(domain: Path) -> list[Path]:
    """The YAML files of ``domain``'s folder that :func:`_load_mesh` reads (its domain file, its sources, its
    product and port contract files), in the order it reads them: a parse worker delivers them in this order
    while the load builds the specs of those already delivered. A folder that cannot be listed only ends the
    list early: these files are parsed ahead (see :func:`load_mesh`), and any other file is parsed by the load."""
    found: list[Path] = []
    try:
        domain_linked = domain.parent.is_symlink() or is_link(domain)
        for name in sorted(listing(domain) or [], key=_load_order):
            entry = domain / name
            if name == "domain.yaml" and is_file(entry):
                found.append(entry)
            elif is_dir(entry):
                linked = domain_linked or is_link(entry)
                found.extend(
                    path
                    for path, link in files_named(entry, ".yaml") or []
                    # resolving every path costs a system call per folder level: only a link can lead out
                    if not (linked or link) or outside_mesh(path) is None
                )
    except OSError:
        return found
    return found


def _load_order(name: str) -> tuple[int, str]:
    return (0 if name == "domain.yaml" else 1 if name == "sources" else 2, name)


def _judge(document: YamlDocument) -> list[str]:
    """The validations a load runs on ``document`` (its official schema, and a contract's ODCS model), run ahead
    by a first load's parse workers in parallel: what passes is vouched for in the parse cache, so this process
    skips it (see :func:`meshplane.spec.yamlsafe.vouch`); what fails is validated and located here as always."""
    name = document.path.name
    kind = "odps" if name == PRODUCT_FILE else "odcs" if name.endswith(".odcs.yaml") else None
    if kind is None:
        return []
    verdict = schema_verdict(document, kind)
    if verdict is None:
        return []
    model = model_verdict(document) if kind == "odcs" else None
    return [verdict] if model is None else [verdict, model]


def _parse_workers() -> int:
    """How many processes parse a large mesh's files on a first load: one per CPU when forking is safe here."""
    cpus = min(os.cpu_count() or 1, 4)
    if cpus < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return 1  # forking a process with other threads running could copy a held lock
    return cpus


def load_mesh(root: Path, overlay: Path | None = None) -> LoadResult:
    """Read and validate every file under ``root``; never raises for bad input.

    ``overlay`` (a domain repository's copy of what the platform published) adds the governance
    repository's teams, users, glossary and global policies, and every domain not in ``root`` (external).
    """
    root = root.resolve()
    with _collector_paused() as loading, within_mesh(root):
        cache_file = root / PARSE_CACHE
        persist = (root / PARSE_CACHE.parts[0]).is_dir()
        prefill: list[Path] | None = None
        workers = 1
        if not persist or not cache_file.is_file():
            folders, files = _domain_folders(root)
            if files >= PARALLEL_PARSE_FILES:  # a large mesh: worth a state folder of its own
                persist = persist or _state_folder(root / PARSE_CACHE.parts[0])
                if not cache_file.is_file():
                    workers = _parse_workers()
                    prefill = folders if workers > 1 else None
        if persist or prefill:
            with parse_cache(
                cache_file,
                persist=persist,
                prefill=prefill,
                workers=workers,
                files=_domain_files,
                stamp=validators_stamp(),
                judge=_judge,
            ):
                result = _load_mesh(root, overlay)
        else:
            result = _load_mesh(root, overlay)
        loading.freeze = result.spec is not None and len(result.spec.products) >= FREEZE_PRODUCTS
        return result


def _state_folder(folder: Path) -> bool:
    """Create the mesh's local state folder, ignored by git on its own (like ``.pytest_cache``): a repository
    whose ``.gitignore`` does not name ``.meshplane/`` stays clean. False when the mesh folder is read-only."""
    try:
        folder.mkdir()
        (folder / ".gitignore").write_text("# meshplane's local state (parse cache); never committed\n*\n")
    except FileExistsError:
        return folder.is_dir()
    except OSError:
        return False
    return True


def _load_mesh(root: Path, overlay: Path | None = None) -> LoadResult:
    problems: list[Problem] = []
    mesh_path = root / "mesh.yaml"
    if not mesh_path.is_file():
        problems.append(
            Problem(
                SourceLocation(mesh_path),
                "no mesh.yaml here: this folder is not a mesh",
                "run meshplane init DIR to create one, or pass the mesh folder",
                code="no-mesh",
            )
        )
        return LoadResult(None, problems)
    mesh_document = read_mapping(mesh_path, problems)
    config = read_model(mesh_document, MeshConfig, "mesh.yaml", problems) if mesh_document else None
    if config is not None and overlay is not None:
        config = _with_governance(config, overlay, problems)
    # When mesh.yaml is broken the declared teams are unknown: do not report every team as undeclared.
    teams = {t.name for t in config.teams} if config else None
    if config and mesh_document and overlay is None:
        _check_teams(mesh_document, config, problems)
    glossary: GlossaryConfig | None = GlossaryConfig()
    glossary_path = (overlay or root) / "glossary.yaml"
    if glossary_path.is_file():
        glossary_doc = read_mapping(glossary_path, problems)
        glossary = read_model(glossary_doc, GlossaryConfig, "glossary.yaml", problems) if glossary_doc else None
    domains: list[DomainSpec] = []
    products: list[ProductSpec] = []
    sources: list[ContractSpec] = []
    unloaded: set[str] = set()
    local = sorted(p for p in (root / "domains").glob("*") if p.is_dir())
    names = {p.name for p in local}
    external = (
        sorted(p for p in (overlay / "domains").glob("*") if p.is_dir() and p.name not in names) if overlay else []
    )
    for domain_dir in local + external:
        domain_spec = _domain(domain_dir, teams, problems)
        if domain_spec is not None:
            domains.append(domain_spec)
        # A product's address comes from its folders, so a broken domain.yaml does not hide its products.
        sources.extend(_sources(domain_dir, domain_dir.name, problems, unloaded))
        products.extend(_products(domain_dir, teams, problems, unloaded))
    spec = None
    if config is not None and mesh_document is not None:
        spec = MeshSpec(
            root=root,
            config=config,
            config_document=mesh_document,
            glossary=glossary or GlossaryConfig(),
            domains=tuple(domains),
            products=tuple(products),
            sources=tuple(sources),
            unloaded=frozenset(unloaded),
            external_domains=frozenset(p.name for p in external),
            governance_root=overlay,
        )
        if glossary is not None:
            _check_glossary_refs(spec, problems)
        if overlay is None:
            _check_subscriptions(spec, problems)
    return LoadResult(spec, problems)


def _with_governance(config: MeshConfig, overlay: Path, problems: list[Problem]) -> MeshConfig:
    """A domain repository's mesh.yaml with the platform's teams and users (the governance repository's)."""
    path = overlay / "mesh.yaml"
    document = read_mapping(path, problems) if path.is_file() else None
    governance = read_model(document, MeshConfig, "mesh.yaml", problems) if document else None
    if governance is None:
        return config
    return config.model_copy(
        update={
            "teams": governance.teams,
            "users": governance.users,
            "governance_team": governance.governance_team,
            "platform_team": governance.platform_team,
        }
    )


def _domain(domain_dir: Path, teams: set[str] | None, problems: list[Problem]) -> DomainSpec | None:
    domain_file = domain_dir / "domain.yaml"
    if not domain_file.is_file():
        problems.append(
            Problem(
                SourceLocation(domain_file),
                f"domain folder {domain_dir.name!r} has no domain.yaml",
                f"run meshplane new domain {domain_dir.name}, or add domain.yaml with name and owner",
                code="domain",
            )
        )
        return None
    domain_doc = read_mapping(domain_file, problems)
    domain = read_model(domain_doc, DomainConfig, "domain.yaml", problems) if domain_doc else None
    if domain is None or domain_doc is None:
        return None
    if domain.name != domain_dir.name:
        problems.append(
            Problem(
                domain_doc.locate(("name",)),
                f"domain name {domain.name!r} does not match its folder",
                f"write name: {domain_dir.name}",
                code="domain",
            )
        )
    if teams is not None and domain.owner not in teams:
        problems.append(
            Problem(
                domain_doc.locate(("owner",)),
                f"owner team {domain.owner!r} is not declared in mesh.yaml",
                "declare it under teams: in mesh.yaml, or use one of: " + ", ".join(sorted(teams)),
                code="domain-owner",
            )
        )
    return DomainSpec(config=domain, path=domain_file, document=domain_doc)


def _products(
    domain_dir: Path, teams: set[str] | None, problems: list[Problem], unloaded: set[str]
) -> list[ProductSpec]:
    found: list[ProductSpec] = []
    listed = listing(domain_dir)
    folders = [domain_dir / name for name in listed] if listed is not None else list(domain_dir.iterdir())
    for product_dir in sorted(p for p in folders if p.name not in RESERVED_DIRS and is_dir(p)):
        product_file = product_dir / PRODUCT_FILE
        if not is_file(product_file):
            if any(product_dir.glob("*.odcs.yaml")) or any(product_dir.glob("*.sql")):
                problems.append(
                    Problem(
                        SourceLocation(product_file),
                        f"product folder {product_dir.name!r} has no {PRODUCT_FILE}",
                        f"run meshplane new product {domain_dir.name}/{product_dir.name}",
                        code="product",
                    )
                )
            continue
        if not NAME_PATTERN.match(product_dir.name):
            problems.append(
                Problem(
                    SourceLocation(product_file, 1, 1),
                    f"product folder {product_dir.name!r} is not lower_snake_case",
                    f"rename the folder to {snake_case(product_dir.name)}",
                    code="product-name",
                )
            )
            continue
        product = read_product(product_file, domain_dir.name, teams, problems, unloaded)
        if product is not None:
            found.append(product)
    return found


def _check_teams(document: YamlDocument, config: MeshConfig, problems: list[Problem]) -> None:
    names = [t.name for t in config.teams]
    for index, name in enumerate(names):
        if names.index(name) != index:
            problems.append(
                Problem(
                    document.locate(("teams", index, "name")),
                    f"team {name!r} is declared twice",
                    "keep one entry and merge the members",
                    code="team",
                )
            )
    for group, team in config.sign_in.group_teams.items():
        if team not in names:
            problems.append(
                Problem(
                    document.locate(("sign_in", "group_teams", group)),
                    f"sign_in maps group {group!r} to team {team!r}, which is not declared",
                    "declare it under teams:, or map the group to one of: " + ", ".join(names),
                    code="team",
                )
            )
    for key in ("governance_team", "platform_team"):
        value = getattr(config, key)
        if value is not None and value not in names:
            problems.append(
                Problem(
                    document.locate((key,)),
                    f"{key} {value!r} is not a declared team",
                    "declare it under teams:, or use one of: " + ", ".join(names),
                    code="team",
                )
            )


def _check_subscriptions(spec: MeshSpec, problems: list[Problem]) -> None:
    """Each subscription names a declared channel and a known team, user or product; e-mail needs smtp:."""
    config, document = spec.config.notifications, spec.config_document
    teams = {t.name for t in spec.config.teams}
    users = {m.username for t in spec.config.teams for m in t.members} | {u.username for u in spec.config.users}
    products = {str(p.address) for p in spec.products}
    local = {str(p.address.domain) for p in spec.products} - set(spec.external_domains)
    known = {"team": teams, "user": users, "product": products}
    for index, subscription in enumerate(config.subscriptions):
        where = ("notifications", "subscriptions", index)
        if subscription.channel not in config.channels:
            problems.append(Problem(document.locate((*where, "channel")),
                                    f"subscription to unknown channel {subscription.channel!r}",
                                    "declare it under notifications.channels, or use one of: "
                                    + (", ".join(sorted(config.channels)) or "(none declared)"),
                                    code="notifications"))  # fmt: skip
        kind, _, name = subscription.subscriber.partition(":")
        elsewhere = kind == "product" and name.split(".")[0] not in local  # another repository's product
        if name not in known[kind] and not elsewhere:
            problems.append(Problem(document.locate((*where, "subscriber")),
                                    f"subscriber {subscription.subscriber!r}: no such {kind} in this mesh",
                                    f"use {kind}:<name> with a declared {kind}", code="notifications"))  # fmt: skip
    if config.smtp is None:
        for name, channel in config.channels.items():
            if channel.type == "email":
                problems.append(Problem(document.locate(("notifications", "channels", name)),
                                        f"e-mail channel {name!r} needs an SMTP server",
                                        "add notifications.smtp: {host: ..., port: ..., sender: ...}",
                                        code="notifications"))  # fmt: skip


def _check_glossary_refs(spec: MeshSpec, problems: list[Problem]) -> None:
    terms = sorted(t.name for t in spec.glossary.terms)
    contracts = [p.contract for product in spec.products for p in product.output_ports] + list(spec.sources)
    for contract in contracts:
        for column in contract.columns:
            if column.semantic_type is not None and column.semantic_type not in terms:
                problems.append(
                    Problem(
                        column.location("authoritativeDefinitions"),
                        f"column {column.name!r} refers to glossary term {column.semantic_type!r},"
                        " which glossary.yaml does not define",
                        _glossary_hint(column.semantic_type, terms),
                        code="glossary-ref",
                    )
                )


def _glossary_hint(name: str, terms: list[str]) -> str:
    close = difflib.get_close_matches(name, terms, n=1)
    if close:
        return f"did you mean glossary:{close[0]}? (or add {name!r} to glossary.yaml)"
    return f"add a term named {name!r} to glossary.yaml"
