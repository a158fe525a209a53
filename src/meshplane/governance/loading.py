"""Reading policy files and waivers, located, and federating global and domain policies.

A policy file holds a top-level ``policies:`` list (one or many policies per file). Global files are
``policies/*.yaml``, domain files ``domains/<d>/policies/*.yaml``; the built-in pack ships in
``meshplane/governance/pack/*.yaml``. A global policy with a pack policy's id replaces it (the guild owns
the global rules). A domain may only *add* policies: reusing a global id (to disable, weaken or
override it) is rejected with a located problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meshplane.governance.model import (
    LoadedPolicy,
    PolicyModel,
    PolicyScope,
    PythonPolicy,
    Waiver,
    WaiverModel,
)
from meshplane.governance.sandbox import CompiledRule, compile_rule
from meshplane.spec.models import MeshSpec
from meshplane.spec.paths import outside_mesh
from meshplane.spec.yamlsafe import YamlDocument, read_yaml
from meshplane.types import Problem, SourceLocation

__all__ = [
    "ENTRY_POINT_GROUP",
    "PolicySet",
    "load_policies",
    "load_policy_file",
    "load_waivers",
    "pack_files",
    "waivers_from_records",
]

ENTRY_POINT_GROUP = "meshplane.policies"


@dataclass(frozen=True)
class PolicySet:
    """The effective policies of a mesh: pack + global + domain, compiled, with every load problem."""

    policies: tuple[LoadedPolicy, ...]
    compiled: Mapping[str, CompiledRule]
    python: tuple[PythonPolicy, ...] = ()
    problems: tuple[Problem, ...] = field(default=())

    def get(self, policy_id: str) -> LoadedPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.policies) + tuple(p.id for p in self.python)


def _problems_from_validation(
    document: YamlDocument, base: tuple[str | int, ...], error: ValidationError
) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = ".".join(str(p) for p in loc) or "the policy"
        hint = ""
        if item["type"] == "extra_forbidden":
            hint = (
                f"remove {loc[-1]!r}; a policy has id, title, rationale, severity, subject, points, rule, message, fix"
            )
        elif item["type"] == "missing":
            hint = f"add {loc[-1]!r}"
        problems.append(
            Problem(document.locate((*base, *loc)), f"invalid policy: {where}: {item['msg']}", hint, code="policy")
        )
    return problems


def load_policy_file(
    path: Path, scope: PolicyScope, domain: str | None = None
) -> tuple[list[LoadedPolicy], dict[str, CompiledRule], list[Problem]]:
    """Validate and compile one policy file; every problem is located."""
    problems: list[Problem] = []
    loaded = read_yaml(path)
    if isinstance(loaded, Problem):
        return [], {}, [loaded]
    data = loaded.data
    if not isinstance(data, dict) or not isinstance(data.get("policies"), list):
        problems.append(
            Problem(
                loaded.locate(()),
                "a policy file holds a top-level 'policies:' list",
                "write policies: followed by one '- id: ...' entry per policy",
                code="policy-file",
            )
        )
        return [], {}, problems
    extra = sorted(set(data) - {"policies"})
    for key in extra:
        problems.append(
            Problem(
                loaded.locate((key,)), f"unknown key {key!r} in a policy file", "keep only policies:", code="policy"
            )
        )
    policies: list[LoadedPolicy] = []
    compiled: dict[str, CompiledRule] = {}
    for index, entry in enumerate(data["policies"]):
        base = ("policies", index)
        try:
            model = PolicyModel.model_validate(entry)
        except ValidationError as error:
            problems.extend(_problems_from_validation(loaded, base, error))
            continue
        rule = compile_rule(model.rule)
        if isinstance(rule, str):
            problems.append(Problem(loaded.locate((*base, "rule")), f"policy {model.id!r}: {rule}", code="policy-rule"))
            continue
        if model.effect.value == "mask" and model.subject.value != "query":
            problems.append(
                Problem(
                    loaded.locate((*base, "effect")),
                    f"policy {model.id!r}: effect 'mask' only applies to query policies",
                    "use subject: query, or effect: deny",
                    code="policy",
                )
            )
            continue
        policies.append(LoadedPolicy(model, scope, loaded.locate((*base, "id")), domain))
        compiled[model.id] = rule
    return policies, compiled, problems


def pack_files() -> list[Path]:
    """The built-in pack's policy files, in name order (users read and copy them)."""
    folder = resources.files("meshplane.governance") / "pack"
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".yaml"))


def _entry_point_policies(problems: list[Problem]) -> list[PythonPolicy]:
    found: list[PythonPolicy] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = entry.load()
            policy = target() if isinstance(target, type) else target
        except Exception as error:  # a broken plugin is reported, never silently skipped
            problems.append(
                Problem(
                    SourceLocation(Path(f"<entry point {entry.name}>")),
                    f"cannot load policy plugin {entry.value}: {error}",
                    code="policy-plugin",
                )
            )
            continue
        if not isinstance(policy, PythonPolicy):
            problems.append(
                Problem(
                    SourceLocation(Path(f"<entry point {entry.name}>")),
                    f"policy plugin {entry.value} lacks id/title/severity/subject/points/evaluate",
                    code="policy-plugin",
                )
            )
            continue
        found.append(policy)
    return found


def load_policies(
    root: Path | None,
    *,
    domains: Iterable[str] = (),
    include_pack: bool = True,
    include_plugins: bool = True,
    extra: Sequence[PythonPolicy] = (),
    global_root: Path | None = None,
) -> PolicySet:
    """Pack + ``policies/*.yaml`` + ``domains/<d>/policies/*.yaml`` under ``root``, federated.

    ``global_root`` holds the global ``policies/`` when they are not under ``root`` (a domain repository
    reads the ones the governance repository published to the platform)."""
    problems: list[Problem] = []
    by_id: dict[str, LoadedPolicy] = {}
    compiled: dict[str, CompiledRule] = {}

    def add_files(files: Iterable[Path], scope: PolicyScope, domain: str | None = None) -> None:
        for path in files:
            escape = outside_mesh(path, root) if scope is not PolicyScope.PACK and root is not None else None
            if escape is not None:  # a mesh policy file that links out of the mesh is not read
                problems.append(escape)
                continue
            policies, rules, found = load_policy_file(path, scope, domain)
            problems.extend(found)
            for policy in policies:
                known = by_id.get(policy.id)
                if known is not None and not (known.scope is PolicyScope.PACK and scope is PolicyScope.GLOBAL):
                    problems.append(_conflict(policy, known))
                    continue
                by_id[policy.id] = policy
                compiled[policy.id] = rules[policy.id]

    if include_pack:
        add_files(pack_files(), PolicyScope.PACK)
    if root is not None:
        add_files(sorted(((global_root or root) / "policies").glob("*.yaml")), PolicyScope.GLOBAL)
        names = set(domains) or {p.name for p in (root / "domains").glob("*") if p.is_dir()}
        for name in sorted(names):
            add_files(sorted((root / "domains" / name / "policies").glob("*.yaml")), PolicyScope.DOMAIN, name)
    python = [*extra, *(_entry_point_policies(problems) if include_plugins else [])]
    for plugin in python:
        if plugin.id in by_id:
            problems.append(
                Problem(
                    SourceLocation(Path(f"<policy plugin {plugin.id}>")),
                    f"policy plugin id {plugin.id!r} is already used by {by_id[plugin.id].location.render()}",
                    "give the plugin a unique id",
                    code="policy-duplicate",
                )
            )
    python = [p for p in python if p.id not in by_id]
    enabled = tuple(p for p in by_id.values() if p.model.enabled)
    return PolicySet(enabled, {p.id: compiled[p.id] for p in enabled}, tuple(python), tuple(problems))


def _conflict(policy: LoadedPolicy, known: LoadedPolicy) -> Problem:
    where = known.location.render()
    if policy.scope is PolicyScope.DOMAIN and known.scope is not PolicyScope.DOMAIN:
        attempt = "disable" if not policy.model.enabled else "redefine"
        if policy.model.enabled and policy.severity.value == "warning" and known.severity.value == "error":
            attempt = "weaken"
        return Problem(
            policy.location,
            f"domain {policy.domain!r} cannot {attempt} global policy {policy.id!r} (defined at {where}); "
            "global policies apply everywhere and domains may only add their own",
            "give the domain policy a new id, or ask the governance team for a waiver (waivers.yaml)",
            code="policy-federation",
        )
    return Problem(
        policy.location,
        f"policy id {policy.id!r} is already defined at {where}",
        "policy ids are unique across the mesh; rename one of them",
        code="policy-duplicate",
    )


def _waiver(
    document: YamlDocument | None,
    base: tuple[str | int, ...],
    entry: Any,
    approvers: set[str],
    problems: list[Problem],
    origin: str,
) -> Waiver | None:
    location = document.locate(base) if document else SourceLocation(Path(origin))
    try:
        model = WaiverModel.model_validate(entry)
    except ValidationError as error:
        if document is not None:
            problems.extend(
                Problem(p.location, p.message.replace("invalid policy", "invalid waiver"), p.hint, code="waiver")
                for p in _problems_from_validation(document, base, error)
            )
        else:
            problems.append(Problem(location, f"invalid waiver record: {error.errors()[0]['msg']}", code="waiver"))
        return None
    if model.approver not in approvers:
        where = document.locate((*base, "approver")) if document else location
        problems.append(
            Problem(
                where,
                f"waiver approver {model.approver!r} is not a member of the governance team",
                "only members of mesh.yaml's governance_team may approve waivers",
                code="waiver-approver",
            )
        )
        return None
    return Waiver(model.policy, model.subject, model.reason, model.approver, model.expires, location)


def governance_members(spec: MeshSpec) -> set[str]:
    team = spec.team(spec.config.governance_team or "")
    return {m.username for m in team.members} if team else set()


def load_waivers(spec: MeshSpec) -> tuple[list[Waiver], list[Problem]]:
    """``waivers.yaml`` at the mesh root (optional): ``waivers: [{policy, subject, reason, approver, expires}]``."""
    path = (spec.governance_root or spec.root) / "waivers.yaml"
    problems: list[Problem] = []
    if not path.is_file():
        return [], problems
    escape = outside_mesh(path, spec.root)
    if escape is not None:  # a waivers file that links out of the mesh is not read
        return [], [escape]
    loaded = read_yaml(path)
    if isinstance(loaded, Problem):
        return [], [loaded]
    entries = loaded.data.get("waivers") if isinstance(loaded.data, dict) else None
    if not isinstance(entries, list):
        return [], [Problem(loaded.locate(()), "waivers.yaml holds a top-level 'waivers:' list", code="waiver")]
    approvers = governance_members(spec)
    waivers = [
        w
        for index, entry in enumerate(entries)
        if (w := _waiver(loaded, ("waivers", index), entry, approvers, problems, str(path))) is not None
    ]
    return waivers, problems


def waivers_from_records(
    records: Iterable[Mapping[str, Any] | Waiver], spec: MeshSpec
) -> tuple[list[Waiver], list[Problem]]:
    """Waivers handed in from the catalog (mappings with the waivers.yaml fields), approver checked."""
    approvers = governance_members(spec)
    problems: list[Problem] = []
    waivers: list[Waiver] = []
    for index, record in enumerate(records):
        if isinstance(record, Waiver):
            record = {
                "policy": record.policy,
                "subject": record.subject,
                "reason": record.reason,
                "approver": record.approver,
                "expires": record.expires,
            }
        entry = dict(record)
        if isinstance(entry.get("expires"), dt.datetime):
            entry["expires"] = entry["expires"].date()
        waiver = _waiver(None, (), entry, approvers, problems, f"<catalog waiver {index}>")
        if waiver is not None:
            waivers.append(waiver)
    return waivers, problems
