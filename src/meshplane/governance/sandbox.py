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

import gc
import hashlib
import importlib.machinery
import importlib.util
import os
import pickle
import re
import select
import signal
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, compress
from operator import itemgetter
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_MACRO_DEPTH",
    "CompiledRule",
    "Group",
    "OutcomeMemo",
    "Projection",
    "Task",
    "TaskOutcome",
    "compile_rule",
    "evaluate_one",
    "paused_gc",
    "projection",
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
    batch: Any  # cel.Program over {docs, mesh, now}: the ``_i`` of every document the rule does not allow


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


@cache
def _cel() -> Any:
    """The compiled CEL core, ``cel.cel``, loaded without ``cel/__init__``: that also imports the package's
    REPL (prompt_toolkit, pygments, rich.syntax), about a tenth of a second of every CLI command's start.

    The module is registered under its own name, so a later ``import cel`` reuses it (a PyO3 module cannot
    be initialised twice in one process).
    """
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("cel")
    folder = Path(package.origin).parent if package is not None and package.origin else None
    paths = [folder / f"cel{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES] if folder else []
    path = next((p for p in paths if p.is_file()), None)
    if path is None:  # an unusual layout: the ordinary import
        import cel

        return cel
    loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(path))
    spec = importlib.util.spec_from_file_location("cel.cel", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cel.cel"] = module
    loader.exec_module(module)
    return module


def compile_rule(expression: str) -> CompiledRule | str:
    """Compile a rule, or say why it cannot be used (syntax, too deeply nested)."""
    depth = _macro_depth(expression)
    if depth > MAX_MACRO_DEPTH:
        return (
            f"the rule nests {depth} comprehension macros (all/exists/map/filter); "
            f"at most {MAX_MACRO_DEPTH} are allowed to bound its cost"
        )
    try:
        cel = _cel()
        single = cel.compile(expression)
        batch = cel.compile(f"docs.filter(subject, !({expression})).map(subject, subject._i)")
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
    fields: Projection | None = None  # the paths the group's rules read (None: the whole document)


Projection = Mapping[str, frozenset[str] | None]  # top-level field -> second-level fields kept (None: all)


def projection(paths: Iterable[tuple[str, ...]]) -> Projection:
    """Merge key paths (one or two levels) into what to keep of each document."""
    kept: dict[str, set[str] | None] = {}
    for path in paths:
        head = path[0]
        if len(path) == 1 or kept.get(head, set()) is None:
            kept[head] = None
        else:
            current = kept.setdefault(head, set())
            assert current is not None
            current.add(path[1])
    return {k: (frozenset(v) if v is not None else None) for k, v in kept.items()}


def _project(doc: Mapping[str, Any], fields: Projection) -> dict[str, Any]:
    slim: dict[str, Any] = {}
    for key, inner in fields.items():
        if key not in doc:
            continue
        value = doc[key]
        if inner is not None and isinstance(value, Mapping):
            value = {k: value[k] for k in inner if k in value}
        slim[key] = value
    return slim


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
    """One converted ``cel.Context`` per group, built on first use.

    Documents are projected onto the paths the rules read, then deduplicated: a rule is a pure function
    of its document (and the shared ``mesh`` and ``now``), so equal projections get equal verdicts.
    """

    def __init__(self, groups: Mapping[str, Group]) -> None:
        self.groups = groups
        self.cache: dict[str, Any] = {}
        self.members: dict[str, list[list[int]]] = {}
        self.positions: dict[str, list[int]] = {}  # fast path: the unique document of each document

    def failing(self, name: str, indexes: Iterable[Any]) -> list[int]:
        """The documents whose unique projection is among ``indexes`` (what the batch rule returned)."""
        chosen = {int(i) for i in indexes}
        if not chosen:
            return []
        if name in self.positions:
            per_doc = self.positions[name]
            return list(compress(range(len(per_doc)), map(chosen.__contains__, per_doc)))
        return [member for index in chosen for member in self.members[name][index]]

    def get(self, name: str) -> Any:
        if name not in self.cache:
            group = self.groups[name]
            fields = group.fields
            flat = tuple(fields) if fields is not None and all(v is None for v in fields.values()) else None
            members: list[list[int]] = []
            docs: list[dict[str, Any]] = []
            every = list(group.docs)
            keys = _scalar_keys(flat, every) if flat else None
            if keys is not None:  # all scalar: deduplicate and map back without a Python loop per document
                positions = {key: n for n, key in enumerate(dict.fromkeys(keys))}
                first = dict(zip(keys, every, strict=True))
                docs.extend({**{k: first[key][k] for k in flat or ()}, "_i": n} for key, n in positions.items())
                self.positions[name] = list(map(positions.__getitem__, keys))
                self.cache[name] = _cel().Context(variables={**group.variables, "docs": docs})
                return self.cache[name]
            unique: dict[str, int] = {}  # repr of the projection -> position (lists, maps, missing fields)
            for index, doc in enumerate(every):
                slim = dict(doc) if fields is None else _project(doc, fields)
                text = repr(slim)  # builders and projections insert keys in a fixed order
                position = unique.get(text)
                if position is None:
                    position = unique[text] = len(docs)
                    slim["_i"] = position
                    docs.append(slim)
                    members.append([])
                members[position].append(index)
            self.members[name] = members
            self.cache[name] = _cel().Context(variables={**group.variables, "docs": docs})
        return self.cache[name]


_SCALARS = frozenset({str, bool, int, float, type(None)})
_NUMBERS = frozenset({bool, int, float})


def _scalar_keys(keys: tuple[str, ...], docs: Sequence[Mapping[str, Any]]) -> list[Any] | None:
    """Each document's values at the top-level ``keys`` (its dedup key), or None when the fast path cannot tell
    equal projections apart: a missing field, a list or map, or numbers of mixed types (``True == 1``).

    One C-level ``itemgetter`` pass over the documents instead of a projected dict and its ``repr`` per document.
    """
    pick = itemgetter(*keys)
    try:
        values = list(map(pick, docs))
    except KeyError:  # a rule reads a field the document lacks: the general path reports it
        return None
    types = set(map(type, values if len(keys) == 1 else chain.from_iterable(values)))
    if not _SCALARS.issuperset(types) or len(types & _NUMBERS) > 1:
        return None
    return values


def _run_task(task: Task, contexts: _Contexts) -> TaskOutcome:
    group = contexts.groups[task.group]
    outcome = TaskOutcome()
    if not group.docs:
        return outcome
    try:
        failing = task.rule.batch.execute(contexts.get(task.group))
    except Exception:  # one document broke the batch (error, non-boolean): find which, one by one
        failing = None
    if isinstance(failing, list):
        outcome.failures.update((member, "") for member in contexts.failing(task.group, failing))
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


MEMO_DOCUMENTS = 2000  # above this many documents, hashing them costs about what a worker evaluating them does


@cache
def _naming(variable: str) -> re.Pattern[str]:
    """Matches a source that names ``variable`` (CEL reads a variable only by its name)."""
    return re.compile(rf"\b{re.escape(variable)}\b")


def _fields_text(fields: Projection | None) -> bytes:
    if fields is None:
        return b"*"
    return repr(sorted((k, sorted(v) if v is not None else None) for k, v in fields.items())).encode()


class OutcomeMemo:
    """Outcomes of earlier runs, by everything a task reads: its rule's source, every document of its group (whole,
    not projected), the projection and the shared variables its source names (``now`` only for a rule that reads
    it). A CEL rule is a pure function of these (no I/O, no clock but ``now``), so unchanged inputs get their
    earlier outcome without forking a worker, and any changed document, read variable or rule is evaluated again.

    Outcomes that hit the deadline or crashed are not kept: they depend on the machine, not the input. Groups of
    more than ``documents`` documents in all are not memoised. The least recently used outcomes go first.
    """

    def __init__(self, size: int = 8192, documents: int = MEMO_DOCUMENTS) -> None:
        self.size = size
        self.documents = documents
        self._outcomes: OrderedDict[bytes, dict[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def keys(self, tasks: Sequence[Task], groups: Mapping[str, Group]) -> list[bytes] | None:
        """One key per task, or None when the documents are too many to be worth hashing."""
        digests: dict[int, bytes] = {}  # by the identity of a documents sequence that groups share
        total = 0
        for name in dict.fromkeys(task.group for task in tasks):
            docs = groups[name].docs
            if id(docs) not in digests:
                total += len(docs)
                if total > self.documents:
                    return None
                digests[id(docs)] = hashlib.sha256(repr(list(docs)).encode()).digest()
        keys: list[bytes] = []
        for task in tasks:
            group = groups[task.group]
            source = task.rule.source
            read = [(name, value) for name, value in sorted(group.variables.items()) if _naming(name).search(source)]
            hashed = hashlib.sha256(source.encode())
            for part in (digests[id(group.docs)], _fields_text(group.fields), repr(read).encode()):
                hashed.update(b"\0" + part)
            keys.append(hashed.digest())
        return keys

    def get(self, key: bytes) -> TaskOutcome | None:
        with self._lock:
            failures = self._outcomes.get(key)
            if failures is None:
                return None
            self._outcomes.move_to_end(key)
        return TaskOutcome(dict(failures))

    def put(self, key: bytes, outcome: TaskOutcome) -> None:
        with self._lock:
            self._outcomes[key] = dict(outcome.failures)
            self._outcomes.move_to_end(key)
            while len(self._outcomes) > self.size:
                self._outcomes.popitem(last=False)

    def __len__(self) -> int:
        return len(self._outcomes)


def run_tasks(
    tasks: Sequence[Task],
    groups: Mapping[str, Group],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    isolation: str = "auto",
    workers: int | None = None,
    memo: OutcomeMemo | None = None,
) -> list[TaskOutcome]:
    """Run every task; ``isolation`` is ``fork`` (deadline enforced), ``inline``, or ``auto`` (fork on POSIX).

    With ``fork``, the documents are split into ``workers`` contiguous shards (default: the CPU count, at
    most 4), each evaluated by its own worker process with its own deadline. With a ``memo``, only the tasks
    whose inputs it has no outcome for run.
    """
    if not tasks:
        return []
    keys = memo.keys(tasks, groups) if memo is not None else None
    if memo is None or keys is None:
        return _run_tasks(tasks, groups, timeout, isolation, workers)[0]
    found = [memo.get(key) for key in keys]
    missing = [index for index, outcome in enumerate(found) if outcome is None]
    if missing:
        ran, unsettled = _run_tasks([tasks[i] for i in missing], groups, timeout, isolation, workers)
        for position, (index, outcome) in enumerate(zip(missing, ran, strict=True)):
            found[index] = outcome
            if position not in unsettled:
                memo.put(keys[index], outcome)
    return [outcome or TaskOutcome(error="the rule was not evaluated") for outcome in found]


def _run_tasks(
    tasks: Sequence[Task], groups: Mapping[str, Group], timeout: float, isolation: str, workers: int | None
) -> tuple[list[TaskOutcome], set[int]]:
    """The outcomes, and which tasks timed out or crashed somewhere (their outcome depends on the machine)."""
    use_fork = isolation == "fork" or (isolation == "auto" and hasattr(os, "fork") and sys.platform != "emscripten")
    if not use_fork:
        outcomes = _run_inline(tasks, groups, timeout)
        return outcomes, {index for index, outcome in enumerate(outcomes) if outcome.error is not None}
    count = max(1, min(workers or os.cpu_count() or 1, 4))
    largest = max((len(g.docs) for g in groups.values()), default=0)
    count = min(count, max(1, largest // 2000))  # small meshes: one worker is cheaper than two forks
    shards: list[tuple[dict[str, Group], dict[str, int]]] = []
    for lane in range(count):
        lane_groups: dict[str, Group] = {}
        offsets: dict[str, int] = {}
        for name, group in groups.items():
            size = len(group.docs)
            begin, end = size * lane // count, size * (lane + 1) // count
            lane_groups[name] = Group(group.docs[begin:end], group.variables, group.fields)
            offsets[name] = begin
        shards.append((lane_groups, offsets))
    results = _run_forked(tasks, [g for g, _ in shards], timeout)
    merged = [TaskOutcome() for _ in tasks]
    unsettled: set[int] = set()
    for (lane_groups, offsets), lane_outcomes in zip(shards, results, strict=True):
        for index, (task, outcome, target) in enumerate(zip(tasks, lane_outcomes, merged, strict=True)):
            base = offsets[task.group]
            if outcome.error is not None:
                unsettled.add(index)
                size = len(lane_groups[task.group].docs)
                target.failures.update((base + i, outcome.error) for i in range(size))
            else:
                target.failures.update((base + i, reason) for i, reason in outcome.failures.items())
    return merged, unsettled


def _run_inline(tasks: Sequence[Task], groups: Mapping[str, Group], timeout: float) -> list[TaskOutcome]:
    contexts = _Contexts(groups)
    outcomes: list[TaskOutcome] = []
    with paused_gc():
        for task in tasks:
            started = time.perf_counter()
            outcome = _run_task(task, contexts)
            if time.perf_counter() - started > timeout:
                outcome = TaskOutcome(error=f"the rule took longer than {timeout:g} s")
            outcomes.append(outcome)
    return outcomes


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while allocating many short-lived, acyclic documents (it rescans the whole heap)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


@dataclass
class _Lane:
    """One worker process evaluating every task over one shard of the documents."""

    groups: Mapping[str, Group]
    outcomes: list[TaskOutcome | None]
    next_task: int = 0
    pid: int = 0
    fd: int = -1
    last: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)

    def start(self, tasks: Sequence[Task]) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker process
            code = 0
            try:
                os.close(read_fd)
                gc.disable()  # the worker is short-lived; collections over the inherited heap cost seconds
                _child(tasks, self.groups, self.next_task, write_fd)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        self.pid, self.fd, self.last = pid, read_fd, time.monotonic()
        self.buffer = bytearray()

    def receive(self, chunk: bytes) -> None:
        self.buffer += chunk
        while len(self.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + size:
                return
            index, failures, error = pickle.loads(bytes(self.buffer[_HEADER.size : _HEADER.size + size]))
            del self.buffer[: _HEADER.size + size]
            self.outcomes[index] = TaskOutcome(failures, error)
            self.next_task = index + 1
            self.last = time.monotonic()

    def release(self) -> None:
        """Every task reported: stop listening without waiting for the worker's exit, which tears down its copy of
        the parent's memory (as long as the fork took, for a large parent); a daemon thread reaps it."""
        os.close(self.fd)
        self.fd = -1
        threading.Thread(target=_reap, args=(self.pid,), name="meshplane-policy-reaper", daemon=True).start()

    def finish(self, tasks: Sequence[Task], failure: str | None) -> None:
        """The worker ended (done, crashed or killed): blame the task it was on, continue after it."""
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        self.fd = -1
        if self.next_task < len(tasks):
            self.outcomes[self.next_task] = TaskOutcome(error=failure or "the rule evaluation crashed")
            self.next_task += 1
            if self.next_task < len(tasks):
                self.start(tasks)


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):  # reaped elsewhere
        os.waitpid(pid, 0)


def _run_forked(
    tasks: Sequence[Task], shards: Sequence[Mapping[str, Group]], timeout: float
) -> list[list[TaskOutcome]]:
    lanes = [_Lane(groups, [None] * len(tasks)) for groups in shards]
    for lane in lanes:
        lane.start(tasks)
    while any(lane.fd >= 0 for lane in lanes):
        running = [lane for lane in lanes if lane.fd >= 0]
        now = time.monotonic()
        for lane in running:
            if now - lane.last > timeout:
                os.kill(lane.pid, signal.SIGKILL)
                lane.finish(tasks, f"the rule took longer than {timeout:g} s")
        running = [lane for lane in lanes if lane.fd >= 0]
        if not running:
            break
        wait = max(0.0, min(timeout - (now - lane.last) for lane in running))
        ready, _, _ = select.select([lane.fd for lane in running], [], [], min(wait, 0.25))
        for lane in running:
            if lane.fd in ready:
                chunk = os.read(lane.fd, 1 << 20)
                if chunk:
                    lane.receive(chunk)
                    if lane.next_task >= len(tasks):
                        lane.release()
                else:
                    lane.finish(tasks, None)
    return [[o or TaskOutcome(error="the rule was not evaluated") for o in lane.outcomes] for lane in lanes]
