"""Hardened YAML reading that keeps the source position of every key and value.

Mesh files come from many teams through pull requests, so the reader refuses what a hostile or careless
file could do to the platform: custom tags (``!!python/object``), alias bombs, duplicate keys, huge files,
invalid UTF-8 and deep nesting. Every refusal is a located :class:`~meshplane.types.Problem`.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from meshplane.spec.paths import outside_mesh
from meshplane.types import Problem, SourceLocation

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "JsonPath",
    "YamlDocument",
    "parse_cache",
    "read_limited",
    "read_yaml",
    "vouch",
    "vouched",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 48

JsonPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")}
# Timestamps stay strings: the standards type dates as strings and we must export what users wrote.
_AS_STRING_TAGS = {f"{_CORE}timestamp", f"{_CORE}binary"}


@dataclass(frozen=True)
class YamlDocument:
    """Plain JSON-like data plus the position of every key path in the file."""

    path: Path
    data: Any
    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict, compare=False)
    # blake2b of the file's bytes when read under a parse cache: the key of what validation vouched for
    digest: bytes | None = field(default=None, compare=False, repr=False)

    def locate(self, json_path: JsonPath) -> SourceLocation:
        """The position of ``json_path``, or of its nearest ancestor that exists in the file."""
        probe = tuple(json_path)
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (1, 1))
        return SourceLocation(self.path, line, column)

    def get(self, *keys: str | int) -> Any:
        node = self.data
        for key in keys:
            if isinstance(key, int) and isinstance(node, list) and -len(node) <= key < len(node):
                node = node[key]
            elif isinstance(key, str) and isinstance(node, dict):
                node = node.get(key)
            else:
                return None
        return node


class _Refused(Exception):
    def __init__(self, mark: tuple[int, int], message: str, hint: str, code: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint
        self.code = code


_DEPTH_MESSAGE = f"nesting deeper than {MAX_DEPTH} levels"
_DEPTH_HINT = "flatten the structure; no mesh file needs it"
_ALIAS_HINT = "remove the anchors and aliases (&name / *name) that repeat large blocks"
_SYNTAX_HINT = "check the indentation, quotes and brackets at this position"
_TAG_HINT = "remove the tag; mesh files hold plain maps, lists, strings, numbers and booleans"

# YAML 1.2 core schema for plain scalars (YAML 1.1's yes/no/on/off booleans and timestamps stay strings).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def _mark(event: Any) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


# A plain scalar starting with none of these characters is a string under every rule below (the common case).
_RESOLVED_START = frozenset("0123456789+-.~nNtTfF")
_WORD_START = frozenset("nNtTfF")  # only null and the booleans start with a letter


def _plain_scalar(text: str) -> Any:
    if text and text[0] not in _RESOLVED_START:
        return text
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if text[0] in _WORD_START:
        return text
    return _numeric_scalar(text)


def _numeric_scalar(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


def _scalar(event: ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        return _plain_scalar(event.value) if event.implicit[0] and tag is None else event.value
    if tag not in _ALLOWED_TAGS and tag not in _AS_STRING_TAGS:
        raise _Refused(_mark(event), f"YAML tag {tag.replace(_CORE, '!!')!r} is not allowed", _TAG_HINT, "yaml-tag")
    if tag in _AS_STRING_TAGS or tag == f"{_CORE}str":
        return event.value
    value = _plain_scalar(event.value)
    expected = {f"{_CORE}int": int, f"{_CORE}float": (int, float), f"{_CORE}bool": bool, f"{_CORE}null": type(None)}
    if tag in expected and not isinstance(value, expected[tag]):  # type: ignore[arg-type]
        raise _Refused(
            _mark(event), f"{event.value!r} is not a valid {tag.replace(_CORE, '!!')}", _TAG_HINT, "yaml-tag"
        )
    return float(value) if tag == f"{_CORE}float" else value


class _Frame:
    """An open mapping or sequence while the event stream is folded into plain data."""

    __slots__ = ("anchor", "count", "key", "path", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: JsonPath, anchor: str | None) -> None:
        self.value = value
        self.path = path
        self.anchor = anchor
        self.count = 1
        self.key: str | None = None


class _Builder:
    """Folds libyaml's event stream into data and positions in one iterative pass.

    Nothing a tag names is ever instantiated; nesting depth and alias expansion are checked as events
    arrive, so a 10,000-level file or an alias bomb is refused at the exact position without recursion.
    """

    def __init__(self) -> None:
        self.positions: dict[JsonPath, tuple[int, int]] = {}
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.total = 0
        self.documents = 0
        self.root: Any = None

    def _child_path(self, frame: _Frame, mark: tuple[int, int]) -> JsonPath:
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        assert frame.key is not None
        return (*frame.path, frame.key)

    def _attach(self, value: Any, size: int, mark: tuple[int, int], path: JsonPath | None = None) -> None:
        self.total += size
        if self.total > MAX_NODES:
            raise _Refused(
                mark,
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                _ALIAS_HINT,
                "yaml-alias-bomb",
            )
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.count += size
        child = path if path is not None else self._child_path(frame, mark)
        self.positions.setdefault(child, mark)
        if isinstance(frame.value, list):
            frame.value.append(value)
        else:
            assert frame.key is not None
            frame.value[frame.key] = value
            frame.key = None

    def _key(self, event: ScalarEvent) -> None:
        frame = self.stack[-1]
        assert isinstance(frame.value, dict)
        mark = _mark(event)
        if event.value == "<<" and event.implicit[0] and event.tag is None:
            raise _Refused(
                mark, "merge keys (<<) are not allowed", "write the merged keys out in full", "yaml-merge-key"
            )
        key = _scalar(event)
        if not isinstance(key, str):
            key = event.value  # keys are names: `1:` or `true:` stay the text the author wrote
        if key in frame.value:
            first_line = self.positions.get((*frame.path, key), (0, 0))[0]
            raise _Refused(
                mark,
                f"duplicate key {key!r} (first defined on line {first_line})",
                f"keep one {key!r} entry",
                "yaml-duplicate-key",
            )
        self.positions[(*frame.path, key)] = mark
        frame.key = key

    def feed(self, event: Any) -> None:
        stack = self.stack
        if type(event) is ScalarEvent and stack:  # most events: a key or a value inside a collection
            frame = stack[-1]
            if frame.key is None and type(frame.value) is dict:
                self._key(event)
                return
            value = _scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            self._attach(value, 1, (event.start_mark.line + 1, event.start_mark.column + 1))
            return
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Refused(
                    _mark(event),
                    "more than one YAML document in the file",
                    "keep one document per file (remove the extra '---')",
                    "yaml-multi",
                )
            return
        expecting_key = bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].key is None
        if isinstance(event, MappingEndEvent | SequenceEndEvent):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.value, frame.count)
            self.total -= frame.count  # counted again, whole, when attached to its parent
            self._attach(frame.value, frame.count, _mark(event), frame.path if self.stack else None)
            return
        if isinstance(event, ScalarEvent) and expecting_key:
            self._key(event)
            return
        if expecting_key:
            raise _Refused(
                _mark(event), "a mapping key must be a plain string", "write a plain name before the colon", "yaml-key"
            )
        if isinstance(event, CollectionStartEvent):
            mark = _mark(event)
            if len(self.stack) + 1 > MAX_DEPTH:
                raise _Refused(mark, _DEPTH_MESSAGE, _DEPTH_HINT, "yaml-depth")
            is_map = isinstance(event, MappingStartEvent)
            expected = f"{_CORE}{'map' if is_map else 'seq'}"
            if event.tag is not None and event.tag not in ("!", expected):
                raise _Refused(
                    mark, f"YAML tag {event.tag.replace(_CORE, '!!')!r} is not allowed", _TAG_HINT, "yaml-tag"
                )
            path = self._child_path(self.stack[-1], mark) if self.stack else ()
            self.positions.setdefault(path, mark)
            self.total += 1
            self.stack.append(_Frame({} if is_map else [], path, event.anchor))
            return
        if isinstance(event, AliasEvent):
            if event.anchor not in self.anchors:
                raise _Refused(
                    _mark(event),
                    f"alias *{event.anchor} names no anchor defined before it",
                    "define the anchor (&name) first, or write the value out",
                    "yaml-syntax",
                )
            value, size = self.anchors[event.anchor]
            if self.total + size > MAX_NODES:
                raise _Refused(
                    _mark(event),
                    f"alias *{event.anchor} expands the document to more than {MAX_NODES:,} values (an alias bomb?)",
                    _ALIAS_HINT,
                    "yaml-alias-bomb",
                )
            self._attach(value, size, _mark(event))
            return
        if isinstance(event, ScalarEvent):
            value = _scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            self._attach(value, 1, _mark(event))


def _decode(path: Path, raw: bytes) -> str | Problem:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        return Problem(
            SourceLocation(path, line, column),
            f"invalid UTF-8 byte 0x{raw[error.start]:02x}",
            "save the file as UTF-8",
            code="yaml-encoding",
        )


def read_limited(path: Path | str, max_bytes: int) -> tuple[bytes | None, int]:
    """The bytes of the file at ``path`` (and their count), or (None, its size) when it holds more than
    ``max_bytes``; raises OSError. Four system calls for a small file (open, two reads, close): no stat first,
    no terminal check or seek of a buffered file object, which a load of 30,000 files otherwise pays for each."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        raw = b""
        while len(raw) <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - len(raw))
            if not chunk:
                return raw, len(raw)
            raw += chunk
        return None, os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)


def read_yaml(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> YamlDocument | Problem:
    """Read one YAML document; returns a located Problem instead of raising for bad input."""
    escape = outside_mesh(path)
    if escape is not None:
        return escape
    cache = _CACHE.get()
    if cache is not None and cache.lanes and max_bytes == MAX_FILE_BYTES:  # the workers' limit
        taken = cache.take(path)
        if taken is not None:
            return taken
    try:
        raw, size = read_limited(path, max_bytes)
        if raw is None:
            return Problem(
                SourceLocation(path),
                f"file is {size:,} bytes, over the {max_bytes:,}-byte limit for mesh files",
                "split it, or keep data out of spec files",
                code="yaml-size",
            )
    except OSError as error:
        return Problem(SourceLocation(path), f"cannot read file: {error.strerror}", code="io")
    if cache is not None:
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        hit = cache.get(path, digest)
        if hit is not None:
            return hit
    text = _decode(path, raw)
    if isinstance(text, Problem):
        return text
    document = parse_yaml_text(path, text)
    if cache is not None and isinstance(document, YamlDocument):
        cache.put(path, digest, text, document)
        return YamlDocument(path, document.data, document.positions, digest)
    return document


class _LazyPositions(dict[JsonPath, tuple[int, int]]):
    """The positions of a cached document, parsed from its (identical) text when first asked for."""

    def __init__(self, path: Path, text: str) -> None:
        super().__init__()
        self._pending: tuple[Path, str] | None = (path, text)

    def _fill(self) -> None:
        if self._pending is not None:
            path, text = self._pending
            self._pending = None
            parsed = _parse_located(path, text)
            if isinstance(parsed, YamlDocument):
                self.update(parsed.positions)

    def __contains__(self, key: object) -> bool:
        self._fill()
        return super().__contains__(key)

    def __getitem__(self, key: JsonPath) -> tuple[int, int]:
        self._fill()
        return super().__getitem__(key)

    def get(self, key: JsonPath, default: Any = None) -> Any:
        self._fill()
        return super().get(key, default)

    def __iter__(self) -> Iterator[JsonPath]:
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def keys(self) -> Any:
        self._fill()
        return super().keys()

    def values(self) -> Any:
        self._fill()
        return super().values()

    def items(self) -> Any:
        self._fill()
        return super().items()

    def __eq__(self, other: object) -> bool:
        self._fill()
        return super().__eq__(other)

    __hash__ = None

    def __repr__(self) -> str:
        self._fill()
        return super().__repr__()


# What a parse cache's caller may vouch for about a document's bytes (see :func:`vouch`), given a document.
Judge = Callable[["YamlDocument"], list[str]]


class _ParseCache:
    """Parsed documents by path and content hash (blake2b of the bytes), kept in one marshal file.

    Only the data and the text are kept: positions (needed only to locate a problem) are parsed again
    from the same text on first use. Only successful parses are kept, so every problem is still found
    and located by the parser; a hit returns exactly what parsing the same bytes returned. marshal holds
    nothing but plain data (no code).

    Each entry also keeps the verdicts that validation vouched for about those bytes (:func:`vouch`: "valid
    under the ODCS v3.1.0 schema"), under the ``stamp`` of the validators that gave them: a cache written by
    other validators (another schema file, another version of the model) keeps its parses but no verdicts.
    """

    _FORMAT = 3

    def __init__(self, file: Path, *, persist: bool = True, stamp: str = "") -> None:
        self.file = file
        self.persist = persist
        self.stamp = stamp
        self.entries: dict[str, tuple[bytes, Any, str, frozenset[str]]] = {}
        self.used: set[str] = set()
        self.changed = False
        # A first load's parse workers (see :meth:`prefill`), and the file paths each has yet to deliver.
        self.lanes: list[_Worker] = []
        self.pending: dict[str, _Worker] = {}
        self.delivered: set[str] = set()  # files a worker read and parsed in this load: not read again here
        try:
            loaded = marshal.loads(file.read_bytes())
            if isinstance(loaded, tuple) and len(loaded) == 3 and loaded[0] == self._FORMAT:
                self.entries = loaded[2]
                if loaded[1] != stamp:
                    none: frozenset[str] = frozenset()
                    self.entries = {k: (d, data, text, none) for k, (d, data, text, _) in self.entries.items()}
                    self.changed = True
        except (OSError, EOFError, ValueError, TypeError):
            pass  # no cache yet, or an unreadable one: parse everything

    def get(self, path: Path, digest: bytes) -> YamlDocument | None:
        key = str(path)
        entry = self.entries.get(key)
        if (entry is None or entry[0] != digest) and self.pending:
            self._receive(key)
            entry = self.entries.get(key)
        if entry is None or entry[0] != digest:
            return None
        self.used.add(key)
        return YamlDocument(path, entry[1], _LazyPositions(path, entry[2]), digest)

    def take(self, path: Path) -> YamlDocument | None:
        """The document a parse worker of this load delivered for ``path`` (waiting for its chunk), or None.

        The worker read the file's bytes moments ago, within the same load: reading and hashing them again
        here would only repeat it (20,000 files on a first load of a 10,000-product mesh)."""
        key = str(path)
        if key not in self.delivered and self.pending:
            self._receive(key)
        if key not in self.delivered:
            return None
        digest, data, text, _ = self.entries[key]
        self.used.add(key)
        return YamlDocument(path, data, _LazyPositions(path, text), digest)

    def put(self, path: Path, digest: bytes, text: str, document: YamlDocument) -> None:
        key = str(path)
        self.entries[key] = (digest, document.data, text, frozenset())
        self.used.add(key)
        self.changed = True

    def vouched(self, path: Path, digest: bytes, verdict: str) -> bool:
        entry = self.entries.get(str(path))
        return entry is not None and entry[0] == digest and verdict in entry[3]

    def vouch(self, path: Path, digest: bytes, verdict: str) -> None:
        key = str(path)
        entry = self.entries.get(key)
        if entry is not None and entry[0] == digest and verdict not in entry[3]:
            self.entries[key] = (*entry[:3], entry[3] | {verdict})
            self.changed = True

    def save(self) -> None:
        if not self.persist or (not self.changed and self.used == self.entries.keys()):
            return
        kept = {k: v for k, v in self.entries.items() if k in self.used}
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(marshal.dumps((self._FORMAT, self.stamp, kept)))
            os.replace(tmp, self.file)  # atomic: a concurrent reader sees the old or the new cache
        except (OSError, ValueError):
            tmp.unlink(missing_ok=True)  # a read-only mesh folder just parses every time

    def prefill(
        self, folders: list[Path], workers: int, files: Callable[[Path], list[Path]], judge: Judge | None = None
    ) -> None:
        """Parse the files of ``folders`` in ``workers`` forked processes when the cache is empty (a first load).

        The folders go to the workers in turn. Each worker lists a folder's files (``files``, in the order the
        load reads them), reads, hashes and parses them, and streams back, chunk by chunk, what :meth:`put` would
        keep for those that parse cleanly, with the verdicts ``judge`` gives each (the validation a load would
        run, done here in parallel). Nothing waits for them here: :func:`read_yaml` waits only for the chunk
        of the file it asks for, so this process builds the specs of the first folders while the workers list
        and parse the next ones. What a worker does not deliver (it failed, or a file does not parse) is
        parsed in this process as usual, so every problem is still located by the parser here.
        """
        if workers < 2 or self.entries:
            return
        for lane in range(workers):
            share = folders[lane::workers]
            read_end, write_end = os.pipe()
            _widen_pipe(write_end)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child process (its coverage is not collected)
                code = 1
                try:
                    os.close(read_end)
                    for other in self.lanes:  # so that closing a lane in the parent ends its worker
                        os.close(other.stream.fileno())
                    with os.fdopen(write_end, "wb") as out:
                        for folder in share:
                            paths = files(folder)
                            for start in range(0, max(len(paths), 1), PREFILL_CHUNK):
                                chunk = paths[start : start + PREFILL_CHUNK]
                                last = start + PREFILL_CHUNK >= len(paths)  # then the folder is complete
                                payload = marshal.dumps((str(folder) if last else "", _parse_share(chunk, judge)))
                                out.write(len(payload).to_bytes(8, "little") + payload)
                                out.flush()
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_end)
            worker = _Worker(pid, os.fdopen(read_end, "rb"))
            self.lanes.append(worker)
            for folder in share:
                self.pending[str(folder)] = worker

    def _receive(self, key: str) -> None:
        """Take in the chunks of the worker parsing the folder of ``key`` until it delivered ``key`` or the whole
        folder (or ended); nothing when no worker is parsing a folder that holds ``key``."""
        folder, parent = key, os.path.dirname(key)
        while folder not in self.pending and parent != folder:
            folder, parent = parent, os.path.dirname(parent)
        worker = self.pending.get(folder)
        while worker is not None and self.pending.get(folder) is worker and key not in self.entries:
            delivered = worker.next_chunk()
            if delivered is None:
                self.pending = {k: w for k, w in self.pending.items() if w is not worker}
                return
            complete, parsed = delivered
            for path, digest, data, text, verdicts in parsed:
                self.entries[path] = (digest, data, text, frozenset(verdicts))
                self.delivered.add(path)
            self.pending.pop(complete, None)
            self.changed = True

    def close(self) -> None:
        """End the workers (what they still hold, this load never asked for) and reap them."""
        for worker in self.lanes:
            worker.close()
        self.lanes.clear()
        self.pending.clear()


# A first load's parse workers send their files back in chunks of this many (see :meth:`_ParseCache.prefill`).
PREFILL_CHUNK = 250


def _widen_pipe(descriptor: int) -> None:
    """Let a worker run a few chunks ahead of the reader (a pipe holds 64 KiB by default, a chunk ~200 KiB)."""
    import fcntl  # POSIX only, as fork is: imported where the workers are started

    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with suppress(OSError):
            fcntl.fcntl(descriptor, set_size, 1 << 20)


class _Worker:
    """One parse worker of :meth:`_ParseCache.prefill`: its process and the pipe it streams its chunks into."""

    def __init__(self, pid: int, stream: BinaryIO) -> None:
        self.pid = pid
        self.stream = stream
        self.done = False

    def next_chunk(self) -> tuple[str, list[tuple[str, bytes, Any, str, list[str]]]] | None:
        """The next chunk the worker sent (the folder it completes, or ""; its parses), or None at the worker's
        end (all sent, or it failed: what it did not deliver is parsed here)."""
        if self.done:
            return None
        header = self.stream.read(8)
        payload = self.stream.read(int.from_bytes(header, "little")) if len(header) == 8 else b""
        try:
            delivered = marshal.loads(payload) if payload else None
        except (EOFError, ValueError, TypeError):
            delivered = None
        if not (isinstance(delivered, tuple) and len(delivered) == 2):
            self.close()
            return None
        return delivered

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        self.stream.close()
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)  # ours, by its id: a worker still parsing what is not needed
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


_CACHE: ContextVar[_ParseCache | None] = ContextVar("meshplane_yaml_cache", default=None)


def vouched(document: YamlDocument, verdict: str) -> bool:
    """True when the parse cache holds ``verdict`` for the very bytes ``document`` was read from."""
    cache = _CACHE.get()
    return cache is not None and document.digest is not None and cache.vouched(document.path, document.digest, verdict)


def vouch(document: YamlDocument, verdict: str) -> None:
    """Record ``verdict`` (a validation ``document`` passed) for its bytes in the parse cache, if one is open.

    The next load of the same bytes (under the same validators: see :class:`_ParseCache`) may skip that
    validation; a changed file has another digest and is validated again."""
    cache = _CACHE.get()
    if cache is not None and document.digest is not None:
        cache.vouch(document.path, document.digest, verdict)


def _parse_share(paths: list[Path], judge: Judge | None = None) -> list[tuple[str, bytes, Any, str, list[str]]]:
    """What :meth:`_ParseCache.put` keeps, for each of ``paths`` that :func:`read_yaml` would parse cleanly."""
    found: list[tuple[str, bytes, Any, str, list[str]]] = []
    for path in paths:
        try:
            raw, _ = read_limited(path, MAX_FILE_BYTES)
            if raw is None:
                continue
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        document = parse_yaml_text(path, text)
        if isinstance(document, YamlDocument):
            verdicts = judge(document) if judge is not None else []
            found.append((str(path), hashlib.blake2b(raw, digest_size=16).digest(), document.data, text, verdicts))
    return found


@contextmanager
def parse_cache(
    file: Path,
    *,
    persist: bool = True,
    prefill: list[Path] | None = None,
    workers: int = 1,
    files: Callable[[Path], list[Path]] | None = None,
    stamp: str = "",
    judge: Judge | None = None,
) -> Iterator[None]:
    """Within the block, :func:`read_yaml` reuses documents parsed earlier from identical bytes.

    ``persist=False`` keeps the cache in memory only; with ``prefill`` (folders) and ``files`` (a folder's files),
    ``workers`` processes parse those files ahead when the cache is empty, while the block runs (``judge`` gives
    the verdicts of each, see :meth:`_ParseCache.prefill`). ``stamp`` names the validators whose verdicts the
    cache keeps.
    """
    cache = _ParseCache(file, persist=persist, stamp=stamp)
    if prefill and files is not None:
        cache.prefill(prefill, workers, files, judge)
    token = _CACHE.set(cache)
    try:
        yield
    finally:
        _CACHE.reset(token)
        cache.close()
        cache.save()


# libyaml (C) when the wheel has it: parsing is what dominates loading a 10,000-product mesh.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml_text(path: Path, text: str, *, loader: Any = _LOADER) -> YamlDocument | Problem:
    """One YAML document as data, its positions parsed from the same text when first asked for.

    Most mesh files are plain maps, lists and scalars: those are read in one tight pass without positions
    (half the cost; positions are only needed to locate a problem). Anything the hardened reader must judge or
    locate (a tag, an anchor or alias, a merge or duplicate key, too deep or too large, several documents, a
    syntax error) is read by the full, locating pass instead, so every refusal is the same located problem.
    """
    try:
        data = _plain_data(text, loader)
    except Exception:  # whatever it is, the locating pass below judges and reports it
        return _parse_located(path, text, loader=loader)
    return YamlDocument(path, data, _LazyPositions(path, text))


class _NotPlain(Exception):
    """The document needs the locating pass (see :func:`parse_yaml_text`)."""


_EXPECTING_KEY = object()


def _plain_data(text: str, loader: Any) -> Any:
    """The data of a document of plain maps, lists and untagged scalars; raises _NotPlain for anything else.

    Equal to what :class:`_Builder` folds from the same events (keys are their text; scalars resolve as
    :func:`_scalar` resolves untagged ones; each collection is inserted where its key or index puts it)."""
    parser = loader(text)
    try:
        get_event = parser.get_event
        stack: list[Any] = []
        keys: list[Any] = []  # per open mapping: its pending key, or _EXPECTING_KEY (None for a sequence)
        root: Any = None
        nodes = 0
        documents = 0
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                if event.tag is not None or event.anchor is not None:
                    raise _NotPlain
                if not stack:
                    nodes += 1
                    root = _plain_scalar(event.value) if event.implicit[0] else event.value
                    continue
                top = stack[-1]
                key = keys[-1]
                if key is _EXPECTING_KEY:
                    name = event.value
                    if name in top or (name == "<<" and event.implicit[0]):
                        raise _NotPlain
                    keys[-1] = name
                    continue
                nodes += 1
                value = _plain_scalar(event.value) if event.implicit[0] else event.value
                if key is None:
                    top.append(value)
                else:
                    top[key] = value
                    keys[-1] = _EXPECTING_KEY
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag is not None or event.anchor is not None or len(stack) >= MAX_DEPTH:
                    raise _NotPlain
                nodes += 1
                child: Any = {} if kind is MappingStartEvent else []
                if stack:
                    key = keys[-1]
                    if key is _EXPECTING_KEY:
                        raise _NotPlain  # a collection as a key
                    if key is None:
                        stack[-1].append(child)
                    else:
                        stack[-1][key] = child
                        keys[-1] = _EXPECTING_KEY
                else:
                    root = child
                stack.append(child)
                keys.append(_EXPECTING_KEY if kind is MappingStartEvent else None)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
                keys.pop()
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _NotPlain
            elif kind is StreamEndEvent:
                break
            elif kind is AliasEvent:
                raise _NotPlain
        if nodes > MAX_NODES:
            raise _NotPlain
        return root
    finally:
        parser.dispose()


def _parse_located(path: Path, text: str, *, loader: Any = _LOADER) -> YamlDocument | Problem:
    """The full pass: data and the position of every key, or the located problem."""
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except _Refused as refusal:
        return Problem(SourceLocation(path, *refusal.mark), refusal.message, refusal.hint, code=refusal.code)
    except yaml.MarkedYAMLError as error:
        if "nesting depth" in str(error.problem) and loader is not yaml.SafeLoader:
            # libyaml looks ahead and stops at its own limit (1,000); the Python parser streams events, so
            # the builder refuses at the first level past MAX_DEPTH, where the author has to look.
            return _parse_located(path, text, loader=yaml.SafeLoader)
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = (error.problem or error.context or "invalid YAML").strip()
        return Problem(SourceLocation(path, line, column), f"invalid YAML: {problem}", _SYNTAX_HINT, code="yaml-syntax")
    except yaml.YAMLError as error:
        return Problem(SourceLocation(path, 1, 1), f"invalid YAML: {error}", _SYNTAX_HINT, code="yaml-syntax")
    return YamlDocument(path, builder.root, builder.positions)
