"""Evaluating CEL rules safely: compiled once, run in batches, bounded in cost and time, fail closed.

Why it is built this way (measured with ``common-expression-language`` 0.10):

- CEL has no I/O: the interpreter only sees the variables we pass (``subject``, ``mesh``, ``now``) and
  registers no Python function, so a rule cannot read files or reach the network.
- ``Program.execute`` holds the GIL for its whole run, so a worker *thread* cannot be abandoned on a
  deadline (the waiting thread never wakes up). A deadline therefore needs a process. We fork **one**
  worker per evaluation run (not per rule or document); it inherits the compiled programs and the input
  documents copy-on-write, runs every task and streams back only the failures. When a task makes no
  progress within ``timeout`` seconds the worker is killed, the task counts as failed for every subject
  it covers, and a fresh worker continues with the next task.
- Converting a Python dict to CEL costs more than running a small rule, so each task evaluates one rule
  over *all* documents of one subject kind in one call (``docs.map(subject, RULE)``) against a
  ``cel.Context`` that is converted once and reused by every rule. When the batch raises (a missing
  field in one document), the task falls back to one evaluation per document, so only the documents
  that fail are reported.
- Anything but ``true`` (false, an error, a timeout, a non-boolean) is a violation.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cel

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_MACRO_DEPTH",
    "CompiledRule",
    "Group",
    "Task",
    "TaskOutcome",
    "compile_rule",
    "evaluate_one",
    "run_tasks",
]

DEFAULT_TIMEOUT = 5.0
MAX_MACRO_DEPTH = 3
_MACROS = ("all", "exists", "exists_one", "map", "filter")
_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class CompiledRule:
    source: str
    single: Any  # cel.Program over {subject, mesh, now}
    batch: Any  # cel.Program over {docs, mesh, now}: docs.map(subject, RULE)


def _macro_depth(expression: str) -> int:
    """The deepest nesting of comprehension macros (``xs.all(x, ys.exists(...))`` is 2)."""
    depth = 0
    deepest = 0
    stack: list[bool] = []
    index = 0
    quote: str | None = None
    while index < len(expression):
        char = expression[index]
        if quote is not None:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "(":
            before = expression[:index].rstrip()
            is_macro = any(before.endswith("." + name) for name in _MACROS)
            stack.append(is_macro)
            if is_macro:
                depth += 1
                deepest = max(deepest, depth)
        elif char == ")" and stack and stack.pop():
            depth -= 1
        index += 1
    return deepest


def compile_rule(expression: str) -> CompiledRule | str:
    """Compile a rule, or say why it cannot be used (syntax, too deeply nested)."""
    depth = _macro_depth(expression)
    if depth > MAX_MACRO_DEPTH:
        return (
            f"the rule nests {depth} comprehension macros (all/exists/map/filter); "
            f"at most {MAX_MACRO_DEPTH} are allowed to bound its cost"
        )
    try:
        single = cel.compile(expression)
        batch = cel.compile(f"docs.map(subject, ({expression}))")
    except (ValueError, TypeError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"the rule is not valid CEL: {first}"
    return CompiledRule(expression, single, batch)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    detail = text[0] if text else ""
    if isinstance(error, KeyError):
        return f"the input document has no field {detail}"
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _verdict(value: Any) -> str | None:
    """None when allowed; the reason otherwise."""
    if value is True:
        return None
    if value is False:
        return ""
    return f"the rule returned {value!r}, not a boolean"


def evaluate_one(rule: CompiledRule, variables: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """Evaluate one document in-process: None when allowed, "" when the rule is false, or an error reason.

    In-process, a run cannot be interrupted; a run that overshoots ``timeout`` still counts as a violation.
    """
    started = time.perf_counter()
    try:
        outcome = _verdict(rule.single.execute(dict(variables)))
    except Exception as error:  # fail closed on anything the interpreter raises
        return f"the rule failed to evaluate ({_describe(error)})"
    if time.perf_counter() - started > timeout:
        return f"the rule took longer than {timeout:g} s"
    return outcome


@dataclass(frozen=True)
class Group:
    """The documents of one subject kind (optionally one domain) and the shared variables."""

    docs: Sequence[Mapping[str, Any]]
    variables: Mapping[str, Any]


@dataclass(frozen=True)
class Task:
    rule: CompiledRule
    group: str


@dataclass
class TaskOutcome:
    """Failures by document index ("" = the rule was false); ``error`` fails every document."""

    failures: dict[int, str] = field(default_factory=dict)
    error: str | None = None


class _Contexts:
    def __init__(self, groups: Mapping[str, Group]) -> None:
        self.groups = groups
        self.cache: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self.cache:
            group = self.groups[name]
            self.cache[name] = cel.Context(variables={**group.variables, "docs": list(group.docs)})
        return self.cache[name]


def _run_task(task: Task, contexts: _Contexts) -> TaskOutcome:
    group = contexts.groups[task.group]
    outcome = TaskOutcome()
    if not group.docs:
        return outcome
    try:
        values = task.rule.batch.execute(contexts.get(task.group))
    except Exception:  # one document broke the batch: find which, one by one
        values = None
    if isinstance(values, list) and len(values) == len(group.docs):
        for index, value in enumerate(values):
            reason = _verdict(value)
            if reason is not None:
                outcome.failures[index] = reason
        return outcome
    base = dict(group.variables)
    for index, doc in enumerate(group.docs):
        base["subject"] = doc
        try:
            reason = _verdict(task.rule.single.execute(base))
        except Exception as error:  # fail closed
            reason = f"the rule failed to evaluate ({_describe(error)})"
        if reason is not None:
            outcome.failures[index] = reason
    return outcome


def run_tasks(
    tasks: Sequence[Task], groups: Mapping[str, Group], *, timeout: float = DEFAULT_TIMEOUT, isolation: str = "auto"
) -> list[TaskOutcome]:
    """Run every task; ``isolation`` is ``fork`` (deadline enforced), ``inline``, or ``auto`` (fork on POSIX)."""
    if not tasks:
        return []
    use_fork = isolation == "fork" or (isolation == "auto" and hasattr(os, "fork") and sys.platform != "emscripten")
    if use_fork:
        return _run_forked(tasks, groups, timeout)
    return _run_inline(tasks, groups, timeout)


def _run_inline(tasks: Sequence[Task], groups: Mapping[str, Group], timeout: float) -> list[TaskOutcome]:
    contexts = _Contexts(groups)
    outcomes: list[TaskOutcome] = []
    for task in tasks:
        started = time.perf_counter()
        outcome = _run_task(task, contexts)
        if time.perf_counter() - started > timeout:
            outcome = TaskOutcome(error=f"the rule took longer than {timeout:g} s")
        outcomes.append(outcome)
    return outcomes


def _child(tasks: Sequence[Task], groups: Mapping[str, Group], start: int, fd: int) -> None:
    contexts = _Contexts(groups)
    for index in range(start, len(tasks)):
        try:
            outcome = _run_task(tasks[index], contexts)
        except BaseException as error:  # report, never escape the child
            outcome = TaskOutcome(error=f"the rule failed to evaluate ({_describe(error)})")
        blob = pickle.dumps((index, outcome.failures, outcome.error), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_HEADER.pack(len(blob)) + blob)
        while view:
            written = os.write(fd, view)
            view = view[written:]


def _run_forked(tasks: Sequence[Task], groups: Mapping[str, Group], timeout: float) -> list[TaskOutcome]:
    outcomes: list[TaskOutcome | None] = [None] * len(tasks)
    start = 0
    while start < len(tasks):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker process
            code = 0
            try:
                os.close(read_fd)
                _child(tasks, groups, start, write_fd)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        current = start
        buffer = bytearray()
        last = time.monotonic()
        failure: str | None = None
        try:
            while True:
                remaining = timeout - (time.monotonic() - last)
                if remaining <= 0:
                    failure = f"the rule took longer than {timeout:g} s"
                    os.kill(pid, signal.SIGKILL)
                    break
                ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.25))
                if not ready:
                    continue
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    index, failures, error = pickle.loads(bytes(buffer[_HEADER.size : _HEADER.size + size]))
                    del buffer[: _HEADER.size + size]
                    outcomes[index] = TaskOutcome(failures, error)
                    current = index + 1
                    last = time.monotonic()
        finally:
            os.close(read_fd)
            os.waitpid(pid, 0)
        if current < len(tasks):
            outcomes[current] = TaskOutcome(error=failure or "the rule evaluation crashed")
            current += 1
        start = current
    return [outcome or TaskOutcome(error="the rule was not evaluated") for outcome in outcomes]
