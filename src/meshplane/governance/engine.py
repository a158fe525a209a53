"""Evaluating the effective policies of a mesh at one enforcement point, and the query-time hook."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.governance.inputs import SubjectDoc, build_inputs
from meshplane.governance.loading import PolicySet, load_policies, load_waivers, waivers_from_records
from meshplane.governance.model import (
    Effect,
    LoadedPolicy,
    Point,
    PolicyScope,
    PythonPolicy,
    QueryDecision,
    Subject,
    Violation,
    Waiver,
)
from meshplane.governance.report import GovernanceReport
from meshplane.governance.sandbox import (
    DEFAULT_TIMEOUT,
    Group,
    OutcomeMemo,
    Projection,
    Task,
    evaluate_one,
    paused_gc,
    projection,
    run_tasks,
)
from meshplane.graph.resolve import MeshGraph
from meshplane.types import Address, Problem, Severity

__all__ = ["evaluate", "evaluate_query", "render_message"]

_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def _lookup(context: Mapping[str, Any], dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return "?"
    if isinstance(node, list):
        return ", ".join(str(v) for v in node)
    return "unset" if node is None else node  # a message reads "its classification is unset", never "null"


def render_message(template: str, context: Mapping[str, Any]) -> str:
    """``{{subject.name}}``-style fields from the input document; unknown fields render as ``?``."""
    return _FIELD.sub(lambda m: str(_lookup(context, m.group(1))), template)


def _now(now: dt.datetime | dt.date) -> tuple[str, dt.date]:
    if isinstance(now, dt.datetime):
        stamp = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        return stamp.isoformat(), stamp.date()
    return dt.datetime.combine(now, dt.time(), dt.UTC).isoformat(), now


def _violation(
    policy: LoadedPolicy | PythonPolicy, item: SubjectDoc, context: Mapping[str, Any], reason: str, failed: bool
) -> Violation:
    if isinstance(policy, LoadedPolicy):
        model = policy.model
        message = render_message(model.message, context)
        title, fix, keys = model.title, render_message(model.fix, context), model.locate
    else:
        message, title, fix, keys = policy.title, policy.title, getattr(policy, "fix", ""), ()
    if reason:
        message = f"{message} ({reason})" if not message.endswith(reason) else message
    return Violation(
        policy=policy.id,
        title=title,
        severity=Severity(policy.severity),
        subject=Subject(policy.subject),
        address=item.address,
        location=item.locator.location(*keys),
        message=message,
        fix=fix,
        domain=item.domain,
        product=item.product,
        failed=failed,
    )


_SUBJECT_PATH = re.compile(r"\bsubject\b((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)(\s*\()?")


def _fields(policy_set: PolicySet, policies: Sequence[LoadedPolicy], policy: LoadedPolicy) -> Projection | None:
    """The paths of ``subject`` the rules sharing ``policy``'s group read (None when the whole document is used).

    ``subject.diff.available`` keeps ``diff.available`` only; a path ending in a method call
    (``subject.name.matches(...)``, ``subject.roles.exists(...)``) keeps the value the method is called on.
    """
    paths: list[tuple[str, ...]] = []
    for other in policies:
        if other.subject is not policy.subject or other.domain != policy.domain:
            continue
        for match in _SUBJECT_PATH.finditer(policy_set.compiled[other.id].source):
            parts = tuple(part.strip() for part in match.group(1).split(".") if part.strip())
            if match.group(2):
                parts = parts[:-1]
            if not parts:
                return None
            paths.append(parts[:2])
    return projection(paths)


class _Docs(Sequence[Mapping[str, Any]]):
    """The documents of some subjects, built on first access: in the worker that evaluates their shard."""

    __slots__ = ("_built", "_slices", "items")

    def __init__(self, items: Sequence[SubjectDoc]) -> None:
        self.items = items
        self._built: list[Mapping[str, Any]] | None = None
        self._slices: dict[tuple[int | None, int | None, int | None], _Docs] = {}

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> _Docs: ...

    def __getitem__(self, index: int | slice) -> Mapping[str, Any] | _Docs:
        if isinstance(index, slice):  # the rules of one subject kind share their shard's slice
            key = (index.start, index.stop, index.step)
            if key not in self._slices:
                self._slices[key] = _Docs(self.items[index])
            return self._slices[key]
        return self.items[index].doc

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        if self._built is None:
            self._built = [item.doc for item in self.items]
        return iter(self._built)


def _applies(policy: LoadedPolicy, item: SubjectDoc) -> bool:
    return policy.scope is not PolicyScope.DOMAIN or item.domain == policy.domain


def _python_outcomes(policy: PythonPolicy, doc: Mapping[str, Any], timeout: float) -> list[tuple[str, bool]]:
    """(reason, failed to evaluate) for each way a Python policy rejects ``doc`` ([] = allowed); fails closed."""
    started = time.perf_counter()
    try:
        result = policy.evaluate(doc)
    except Exception as error:  # fail closed
        return [(f"the policy failed to evaluate ({type(error).__name__}: {error})", True)]
    if time.perf_counter() - started > timeout:
        return [(f"the policy took longer than {timeout:g} s", True)]
    if result is True:
        return []
    if result is False:
        return [("", False)]
    if isinstance(result, list):
        return [(str(r), False) for r in result]
    return [(f"the policy returned {result!r}, not a boolean or a list", True)]


def evaluate(
    graph: MeshGraph,
    point: Point | str,
    *,
    now: dt.datetime | dt.date,
    published: Mapping[str, OpenDataContractStandard] | None = None,
    quality: Mapping[str, Any] | None = None,
    waivers: Iterable[Mapping[str, Any] | Waiver] | None = None,
    policies: PolicySet | None = None,
    products: Iterable[Address] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    isolation: str = "auto",
    upstream: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    memo: OutcomeMemo | None = None,
) -> GovernanceReport:
    """Evaluate every policy enforced at ``point`` over the mesh (or the ``products`` given).

    ``published`` maps a port address to its published contract (for the ``diff`` field), ``quality`` a
    port address to its quality results, ``waivers`` adds catalog waiver records to ``waivers.yaml``,
    ``upstream`` a column address to the sensitive classification its values come from (column lineage).
    ``memo`` keeps the CEL rules' outcomes by their inputs across evaluations (waivers, plugins and messages
    are applied anew each time).
    """
    with paused_gc():
        return _evaluate(graph, Point(point), now, published, quality, waivers, policies, products, timeout, isolation,
                         upstream, memo)  # fmt: skip


def _evaluate(
    graph: MeshGraph,
    point: Point,
    now: dt.datetime | dt.date,
    published: Mapping[str, OpenDataContractStandard] | None,
    quality: Mapping[str, Any] | None,
    waivers: Iterable[Mapping[str, Any] | Waiver] | None,
    policies: PolicySet | None,
    products: Iterable[Address] | None,
    timeout: float,
    isolation: str,
    upstream: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    memo: OutcomeMemo | None = None,
) -> GovernanceReport:
    now_text, today = _now(now)
    policy_set = (
        policies if policies is not None else load_policies(graph.spec.root, global_root=graph.spec.governance_root)
    )
    problems: list[Problem] = list(policy_set.problems)
    file_waivers, waiver_problems = load_waivers(graph.spec)
    problems.extend(waiver_problems)
    all_waivers = list(file_waivers)
    if waivers is not None:
        extra, extra_problems = waivers_from_records(waivers, graph.spec)
        all_waivers.extend(extra)
        problems.extend(extra_problems)
    active = [w for w in all_waivers if w.active(today)]
    expired = [w for w in all_waivers if not w.active(today)]

    cel_policies = [p for p in policy_set.policies if point in p.model.points and p.subject is not Subject.QUERY]
    py_policies = [p for p in policy_set.python if point in p.points and p.subject is not Subject.QUERY]
    needed = {p.subject for p in cel_policies} | {Subject(p.subject) for p in py_policies}
    inputs = build_inputs(graph, published=published, quality=quality, subjects=needed, upstream=upstream)
    if products is not None:
        keep = {str(a.product_address) for a in products}
        keep_domains = {a.split(".")[0] for a in keep}
        inputs = {
            kind: [
                d
                for d in docs
                if (d.product in keep) or (d.product is None and (d.domain in keep_domains or kind is Subject.MESH))
            ]
            for kind, docs in inputs.items()
        }
    mesh_doc = inputs[Subject.MESH][0].doc if inputs.get(Subject.MESH) else {"name": graph.spec.config.name}
    variables = {"mesh": mesh_doc, "now": now_text}

    groups: dict[str, Group] = {}
    selections: dict[str, list[SubjectDoc]] = {}
    documents: dict[str, _Docs] = {}
    tasks: list[Task] = []
    task_policies: list[LoadedPolicy] = []
    for policy in cel_policies:
        scope = policy.subject.value if policy.domain is None else f"{policy.subject.value}@{policy.domain}"
        if scope not in selections:
            selections[scope] = [d for d in inputs[policy.subject] if _applies(policy, d)]
            documents[scope] = _Docs(selections[scope])
        chosen = selections[scope]
        key = f"{scope}#{policy.id}"  # one projection per rule: it sees only the paths it reads
        groups[key] = Group(documents[scope], variables, _fields(policy_set, [policy], policy))
        selections[key] = chosen
        tasks.append(Task(policy_set.compiled[policy.id], key))
        task_policies.append(policy)

    outcomes = run_tasks(tasks, groups, timeout=timeout, isolation=isolation, memo=memo)
    found: list[Violation] = []
    applied: dict[str, set[str]] = defaultdict(set)
    units: dict[int, set[str]] = {}  # by selection: the products (or domains, or the mesh) it covers
    for policy, task, outcome in zip(task_policies, tasks, outcomes, strict=True):
        chosen = selections[task.group]
        if id(chosen) not in units:
            units[id(chosen)] = {item.product or item.domain or item.address for item in chosen}
        applied[policy.id] |= units[id(chosen)]
        failing: Iterable[tuple[int, str]] = (
            ((i, outcome.error) for i in range(len(chosen))) if outcome.error else outcome.failures.items()
        )
        for index, reason in failing:
            item = chosen[index]
            found.append(_violation(policy, item, {**variables, "subject": item.doc}, reason, bool(reason)))
    for plugin in py_policies:
        for item in inputs[Subject(plugin.subject)]:
            applied[plugin.id].add(item.product or item.domain or item.address)
            for reason, failed in _python_outcomes(plugin, item.doc, timeout):
                found.append(_violation(plugin, item, {**variables, "subject": item.doc}, reason, failed))

    violations: list[Violation] = []
    waived: list[Violation] = []
    for violation in found:
        waiver = next((w for w in active if w.covers(violation.policy, violation.address)), None)
        if waiver is None:
            violations.append(violation)
        else:
            waived.append(_with_waiver(violation, waiver))
    order = lambda v: (v.location, v.policy, v.address)  # noqa: E731
    return GovernanceReport(
        mesh=graph.spec.config.name,
        root=graph.spec.root,
        point=point,
        now=now_text,
        policies=tuple((p.id, p.model.title, p.severity.value, p.subject.value, p.scope.value) for p in cel_policies)
        + tuple((p.id, p.title, Severity(p.severity).value, Subject(p.subject).value, "plugin") for p in py_policies),
        violations=tuple(sorted(violations, key=order)),
        waived=tuple(sorted(waived, key=order)),
        waivers=tuple(active),
        expired_waivers=tuple(expired),
        problems=tuple(problems),
        applied={k: frozenset(v) for k, v in applied.items()},
        products=tuple(str(a) for a in sorted(graph.products)),
        domains=tuple(d.name for d in graph.spec.domains),
    )


def _with_waiver(violation: Violation, waiver: Waiver) -> Violation:
    from dataclasses import replace

    return replace(violation, waiver=waiver)


def evaluate_query(
    input_doc: Mapping[str, Any],
    *,
    policies: PolicySet | None = None,
    now: dt.datetime | dt.date | None = None,
    mesh: Mapping[str, Any] | None = None,
    timeout: float = 0.5,
) -> QueryDecision:
    """The access layer's hook: deny wins; mask policies name columns to mask. Fails closed.

    ``input_doc`` is a ``query`` document (see :func:`meshplane.governance.build_query_input`).
    """
    policy_set = policies if policies is not None else load_policies(None, include_plugins=False)
    now_text, _ = _now(now or dt.datetime.now(dt.UTC))
    if not isinstance(input_doc, Mapping) or input_doc.get("schema_version") != 1:
        return QueryDecision(False, {}, ("the query input document is not schema_version 1",), ())
    base = {"subject": dict(input_doc), "mesh": dict(mesh or {}), "now": now_text}
    allow = True
    masks: dict[str, str] = {}
    reasons: list[str] = []
    involved: list[str] = []
    for policy in policy_set.policies:
        if policy.subject is not Subject.QUERY or Point.QUERY not in policy.model.points:
            continue
        if policy.domain is not None and policy.domain != input_doc.get("domain"):
            continue
        rule = policy_set.compiled[policy.id]
        if policy.model.effect is Effect.MASK:
            columns: Sequence[Any] = input_doc.get("columns") or []
            for column in columns:
                name = str(column.get("name")) if isinstance(column, Mapping) else "?"
                outcome = evaluate_one(rule, {**base, "column": column}, timeout)
                if outcome is not None:
                    kind = column.get("mask") if isinstance(column, Mapping) else None
                    masks[name] = str(kind or "redact")
                    involved.append(policy.id)
            continue
        outcome = evaluate_one(rule, base, timeout)
        if outcome is not None:
            message = render_message(policy.model.message, base)
            if policy.severity is Severity.ERROR:
                allow = False
            reasons.append(f"[{policy.id}] {message}" + (f" ({outcome})" if outcome else ""))
            involved.append(policy.id)
    for plugin in policy_set.python:
        if Subject(plugin.subject) is not Subject.QUERY or Point.QUERY not in plugin.points:
            continue
        for reason, _ in _python_outcomes(plugin, input_doc, timeout):
            if Severity(plugin.severity) is Severity.ERROR:
                allow = False
            reasons.append(f"[{plugin.id}] {plugin.title}" + (f" ({reason})" if reason else ""))
            involved.append(plugin.id)
    return QueryDecision(allow, masks, tuple(reasons), tuple(dict.fromkeys(involved)))


def blocking(report: GovernanceReport) -> list[Violation]:
    """Error-level violations that are not waived (what fails a check or a build)."""
    return [v for v in report.violations if v.severity is Severity.ERROR]


__all__ += ["blocking"]
