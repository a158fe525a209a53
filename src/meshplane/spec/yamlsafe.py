"""Hardened YAML reading that keeps the source position of every key and value.

Mesh files come from many teams through pull requests, so the reader refuses what a hostile or careless
file could do to the platform: custom tags (``!!python/object``), alias bombs, duplicate keys, huge files,
invalid UTF-8 and deep nesting. Every refusal is a located :class:`~meshplane.types.Problem`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    NodeEvent,
    SequenceEndEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from meshplane.types import Problem, SourceLocation

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "JsonPath", "YamlDocument", "read_yaml"]

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
    def __init__(self, node: Node | None, message: str, hint: str, code: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint
        self.code = code


_DEPTH_MESSAGE = f"nesting deeper than {MAX_DEPTH} levels"
_DEPTH_HINT = "flatten the structure; no mesh file needs it"
_ALIAS_HINT = "remove the anchors and aliases (&name / *name) that repeat large blocks"
_SYNTAX_HINT = "check the indentation, quotes and brackets at this position"


def _position(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _mark(event: Any) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


def _scan_events(yaml: YAML, text: str) -> tuple[tuple[int, int], str, str, str] | None:
    """Check depth and alias expansion on the parser's event stream, before anything is composed.

    The parser is iterative, so a file nested 10,000 levels deep is refused at the exact position
    instead of exhausting the composer's recursion; an alias bomb is refused at the alias that
    makes the document expand past :data:`MAX_NODES`, without expanding it.
    """
    depth = 0
    sizes: dict[str, int] = {}  # anchor -> number of values it expands to
    stack: list[tuple[str | None, int]] = []  # (anchor of the open collection, values inside it)
    total = 0
    documents = 0
    for event in yaml.parse(io.StringIO(text)):
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                return (
                    _mark(event),
                    "more than one YAML document in the file",
                    "keep one document per file (remove the extra '---')",
                    "yaml-multi",
                )
            continue
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return _mark(event), _DEPTH_MESSAGE, _DEPTH_HINT, "yaml-depth"
            stack.append((event.anchor, 1))
            total += 1
            continue
        if isinstance(event, MappingEndEvent | SequenceEndEvent):
            depth -= 1
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            if stack:
                parent_anchor, parent_count = stack[-1]
                stack[-1] = (parent_anchor, parent_count + count)
            continue
        if isinstance(event, NodeEvent):
            count = sizes.get(str(event.anchor), 1) if isinstance(event, AliasEvent) else 1
            if not isinstance(event, AliasEvent) and event.anchor is not None:
                sizes[event.anchor] = 1
            total += count
            if total > MAX_NODES:
                return (
                    _mark(event),
                    f"alias *{event.anchor} expands the document to more than {MAX_NODES:,} values (an alias bomb?)",
                    _ALIAS_HINT,
                    "yaml-alias-bomb",
                )
            if stack:
                anchor, inside = stack[-1]
                stack[-1] = (anchor, inside + count)
    return None


class _Converter:
    """Turns a composed node tree into plain data, enforcing the limits."""

    def __init__(self, constructor: SafeConstructor) -> None:
        self.positions: dict[JsonPath, tuple[int, int]] = {}
        self.nodes = 0
        self._scalars = constructor

    def convert(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(
                node,
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                _ALIAS_HINT,
                "yaml-alias-bomb",
            )
        if depth > MAX_DEPTH:
            raise _Refused(node, _DEPTH_MESSAGE, _DEPTH_HINT, "yaml-depth")
        self.positions.setdefault(path, _position(node))
        tag = str(getattr(node.tag, "value", node.tag) or "")
        if isinstance(node, MappingNode):
            self._check_tag(node, tag, f"{_CORE}map")
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            self._check_tag(node, tag, f"{_CORE}seq")
            return [self.convert(item, (*path, index), depth + 1) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        if tag in _AS_STRING_TAGS:
            return str(node.value)
        self._check_tag(node, tag, None)
        return self._scalars.construct_object(node, deep=True)

    def _check_tag(self, node: Node, tag: str, expected: str | None) -> None:
        if tag in _ALLOWED_TAGS and (expected is None or tag == expected):
            return
        raise _Refused(
            node,
            f"YAML tag {tag.replace(_CORE, '!!')!r} is not allowed",
            "remove the tag; mesh files hold plain maps, lists, strings, numbers and booleans",
            "yaml-tag",
        )

    def _mapping(self, node: MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style:
                raise _Refused(
                    key_node, "merge keys (<<) are not allowed", "write the merged keys out in full", "yaml-merge-key"
                )
            if not isinstance(key_node, ScalarNode):
                raise _Refused(
                    key_node, "a mapping key must be a plain string", "write a plain name before the colon", "yaml-key"
                )
            key = str(key_node.value)
            if key in result:
                first_line = self.positions.get((*path, key), (0, 0))[0]
                raise _Refused(
                    key_node,
                    f"duplicate key {key!r} (first defined on line {first_line})",
                    f"keep one {key!r} entry",
                    "yaml-duplicate-key",
                )
            self.positions[(*path, key)] = _position(key_node)
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        return result


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


def read_yaml(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> YamlDocument | Problem:
    """Read one YAML document; returns a located Problem instead of raising for bad input."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Problem(
                SourceLocation(path),
                f"file is {size:,} bytes, over the {max_bytes:,}-byte limit for mesh files",
                "split it, or keep data out of spec files",
                code="yaml-size",
            )
        raw = path.read_bytes()
    except OSError as error:
        return Problem(SourceLocation(path), f"cannot read file: {error.strerror}", code="io")
    text = _decode(path, raw)
    if isinstance(text, Problem):
        return text
    return parse_yaml_text(path, text)


def parse_yaml_text(path: Path, text: str) -> YamlDocument | Problem:
    yaml = YAML(typ="safe", pure=True)
    try:
        refused = _scan_events(yaml, text)
        if refused is not None:
            (line, column), message, hint, code = refused
            return Problem(SourceLocation(path, line, column), message, hint, code=code)
        documents = list(_compose_all(yaml, text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = (error.problem or error.context or "invalid YAML").strip()
        return Problem(SourceLocation(path, line, column), f"invalid YAML: {problem}", _SYNTAX_HINT, code="yaml-syntax")
    except RecursionError:
        return Problem(SourceLocation(path, 1, 1), _DEPTH_MESSAGE, _DEPTH_HINT, code="yaml-depth")
    except YAMLError as error:
        return Problem(SourceLocation(path, 1, 1), f"invalid YAML: {error}", _SYNTAX_HINT, code="yaml-syntax")
    if len(documents) > 1:
        return Problem(
            SourceLocation(path, *_position(documents[1])),
            "more than one YAML document in the file",
            "keep one document per file (remove the extra '---')",
            code="yaml-multi",
        )
    if not documents or documents[0] is None:
        return YamlDocument(path, None, {})
    converter = _Converter(yaml.constructor)
    try:
        data = converter.convert(documents[0], (), 0)
    except _Refused as refusal:
        line, column = _position(refusal.node) if refusal.node is not None else (1, 1)
        return Problem(SourceLocation(path, line, column), refusal.message, refusal.hint, code=refusal.code)
    except RecursionError:
        return Problem(SourceLocation(path, 1, 1), _DEPTH_MESSAGE, _DEPTH_HINT, code="yaml-depth")
    except (YAMLError, ValueError, TypeError) as error:
        return Problem(SourceLocation(path, 1, 1), f"invalid YAML value: {error}", _SYNTAX_HINT, code="yaml-syntax")
    return YamlDocument(path, data, converter.positions)


def _compose_all(yaml: YAML, text: str) -> Iterator[Node]:
    """Compose (no construction yet), so nothing a tag names is ever instantiated."""
    stream = io.StringIO(text)
    yield from yaml.compose_all(stream)
