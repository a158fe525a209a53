"""Property tests: the hardened YAML reader round-trips JSON-like data with a position for every key, and
version ranges match what a small independent reference says."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import semver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from meshplane.graph.versions import RangeError, matches
from meshplane.spec.yamlsafe import MAX_DEPTH, JsonPath, YamlDocument, _parse_located, parse_yaml_text
from meshplane.types import Problem

# -- the YAML reader --------------------------------------------------------------------------------------------

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,11}", fullmatch=True).filter(lambda k: k != "<<")
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff"),
    max_size=30,
) | st.sampled_from(["yes", "no", "null", "~", "1.0", "0x1F", "2024-01-01", "1e3", "- a", "a: b", "#x", "'q'", ""])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
DOCUMENTS = st.dictionaries(
    KEYS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=25,
    ),
    max_size=6,
)


def _dump(data: Any, flow: bool) -> str:
    if flow:
        # JSON is YAML's flow style; ruamel's own flow emitter writes some plain scalars (``[?0]``) that its
        # scanner then reads as keys, so flow documents come from the json module.
        return json.dumps(data, ensure_ascii=False)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _read(text: str) -> YamlDocument:
    result = parse_yaml_text(Path("doc.yaml"), text)
    assert isinstance(result, YamlDocument), result
    return result


def _key_paths(data: Any, path: JsonPath = ()) -> list[JsonPath]:
    found: list[JsonPath] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*path, key))
            found.extend(_key_paths(value, (*path, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.append((*path, index))
            found.extend(_key_paths(value, (*path, index)))
    return found


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS, st.booleans())
def test_dumped_documents_read_back_equal(data: dict[str, Any], flow: bool) -> None:
    assert _read(_dump(data, flow)).data == data


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_every_key_path_points_at_its_key(data: dict[str, Any]) -> None:
    text = _dump(data, flow=False)
    lines = text.splitlines()
    document = _read(text)
    for path in _key_paths(data):
        assert path in document.positions, path
        line, column = document.positions[path]
        location = document.locate(path)
        assert (location.line, location.column) == (line, column)
        key = path[-1]
        if isinstance(key, str):
            # Block style: the key starts exactly at the recorded position and is followed by its colon.
            assert lines[line - 1][column - 1 :].startswith(f"{key}:"), (path, lines[line - 1])


@given(DOCUMENTS)
def test_locating_a_missing_path_falls_back_to_the_nearest_ancestor(data: dict[str, Any]) -> None:
    document = _read(_dump(data, flow=False))
    for path in _key_paths(data):
        assert document.locate((*path, "no such key", 7)) == document.locate(path)


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = parse_yaml_text(Path("doc.yaml"), text)
    assert result is not None


# YAML text of the kinds mesh files hold, and of the kinds the reader refuses or must locate (tags, anchors,
# aliases, merge and duplicate keys, collection keys, several documents, nesting).
FRAGMENTS = st.sampled_from(
    ["a: 1\n", "- x\n", "  b: [1, 2]\n", "c: {d: e}\n", "a: 2\n", "<<: {x: 1}\n", "'<<': 1\n", "k: &a [1]\n",
     "v: *a\n", "t: !!str 1\n", "u: !!python/object:os.system x\n", "? [1]\n: 2\n", "---\n", "...\n",
     "1: one\n", "true: yes\n", "n: ~\n", "q: 'it''s'\n", 'w: "\\x41"\n', "e: 1e3\n", "h: 0x1F\n", "[[[[\n",
     "x: [\n", "  - - - 1\n", "s: ! plain\n", "\t: tab\n", "z: 2024-01-01\n", "- {a: 1, a: 2}\n"]
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS, max_size=8).map("".join) | st.text(max_size=120))
def test_the_fast_pass_reads_what_the_locating_pass_reads(text: str) -> None:
    """Plain documents are read without positions; the result (data, positions, or the located problem) is
    exactly the full locating pass's."""
    fast = parse_yaml_text(Path("doc.yaml"), text)
    full = _parse_located(Path("doc.yaml"), text)
    assert type(fast) is type(full)
    if isinstance(fast, YamlDocument):
        assert isinstance(full, YamlDocument)
        assert json.dumps(fast.data, default=repr) == json.dumps(full.data, default=repr)  # NaN and types alike
        assert dict(fast.positions) == dict(full.positions)
    else:
        assert fast == full


def test_a_deep_document_is_refused_where_it_gets_too_deep() -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(60)) + "  " * 60 + "leaf: 1\n"
    result = parse_yaml_text(Path("doc.yaml"), text)
    assert isinstance(result, Problem) and result.code == "yaml-depth"
    assert result.location.line == MAX_DEPTH + 1


# -- version ranges --------------------------------------------------------------------------------------------

Triple = tuple[int, int, int]
PARTS = st.integers(min_value=0, max_value=4)


def _bounds(op: str, parts: list[int]) -> tuple[Triple | None, bool, Triple | None, bool]:
    """The reference: (lower, lower inclusive, upper, upper inclusive) of one comparator, as npm defines it."""
    n = len(parts)
    x, y, z = [*parts, 0, 0, 0][:3]
    lo: Triple = (x, y, z)
    nxt: Triple = (x + 1, 0, 0) if n == 1 else (x, y + 1, 0) if n == 2 else (x, y, z + 1)
    if op in ("", "="):
        return (lo, True, lo, True) if n == 3 else (lo, True, nxt, False)
    if op == ">=":
        return (lo, True, None, False)
    if op == ">":
        return (lo, False, None, False) if n == 3 else (nxt, True, None, False)
    if op == "<":
        return (None, False, lo, False)
    if op == "<=":
        return (None, False, lo, True) if n == 3 else (None, False, nxt, False)
    if op == "~":
        return (lo, True, (x + 1, 0, 0) if n == 1 else (x, y + 1, 0), False)
    # caret: do not change the left-most non-zero part (of the parts given)
    if x > 0 or n == 1:
        upper: Triple = (x + 1, 0, 0)
    elif y > 0 or n == 2:
        upper = (0, y + 1, 0)
    else:
        upper = (0, 0, z + 1)
    return (lo, True, upper, False)


def _reference(version: Triple, comparators: list[tuple[str, list[int]]]) -> bool:
    for op, parts in comparators:
        lo, lo_inclusive, hi, hi_inclusive = _bounds(op, parts)
        if lo is not None and (version < lo or (version == lo and not lo_inclusive)):
            return False
        if hi is not None and (version > hi or (version == hi and not hi_inclusive)):
            return False
    return True


COMPARATORS = st.tuples(
    st.sampled_from(["", "=", ">=", ">", "<", "<=", "~", "^"]), st.lists(PARTS, min_size=1, max_size=3)
)


@settings(max_examples=500)
@given(st.tuples(PARTS, PARTS, PARTS), st.lists(COMPARATORS, min_size=1, max_size=2), st.booleans())
def test_ranges_match_the_reference(version: Triple, comparators: list[tuple[str, list[int]]], spaced: bool) -> None:
    text = " ".join(f"{op}{' ' if spaced and op else ''}{'.'.join(map(str, parts))}" for op, parts in comparators)
    assert matches(".".join(map(str, version)), text) is _reference(version, comparators), text


@given(st.tuples(PARTS, PARTS, PARTS), st.integers(min_value=0, max_value=2), st.sampled_from(["x", "X", "*"]))
def test_wildcards_are_partial_versions(version: Triple, given_parts: int, wildcard: str) -> None:
    parts = list(version[:given_parts])
    text = ".".join([*map(str, parts), wildcard])
    expected = _reference(version, [("", parts)]) if parts else True
    assert matches(".".join(map(str, version)), text) is expected


@given(st.text(max_size=30))
def test_any_text_is_a_range_or_a_range_error(text: str) -> None:
    try:
        result = matches("1.2.3", text)
    except RangeError as error:
        assert error.token in text
    else:
        assert isinstance(result, bool)


@pytest.mark.parametrize(
    ("version", "range_text", "expected"),
    [
        ("1.4.0", "^1.2", True),
        ("2.0.0", "^1.2", False),
        ("0.2.5", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("0.0.4", "^0.0.3", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("1.9.0", ">=1.0.0 <2.0.0", True),
        ("2.0.0", ">=1.0.0 <2.0.0", False),
        ("1.7.1", "1.x", True),
        ("1.2.3", "1.2.3", True),
        ("1.2.4", "1.2.3", False),
        ("1.2.0", ">1.1", True),
        ("1.1.9", ">1.1", False),
        ("9.9.9", None, True),
        ("9.9.9", "", True),
    ],
)
def test_documented_range_forms(version: str, range_text: str | None, expected: bool) -> None:
    assert matches(version, range_text) is expected
    assert semver.Version.is_valid(version)


@pytest.mark.parametrize("text", ["latest", "1.2.3 - 2.0.0", "^1 || ^2", ">=1.0.0.0", "01.2.3", "1x"])
def test_unsupported_ranges_raise_range_error(text: str) -> None:
    with pytest.raises(RangeError):
        matches("1.2.3", text)
