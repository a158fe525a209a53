"""Validation against the official Bitol JSON Schemas (ODPS, ODCS) of each document's own ``apiVersion``.

The schemas ship in ``meshplane/spec/standards/`` exactly as Bitol publishes them (Apache-2.0, licence text beside
them; a test compares each with its release). A document is validated against the schema of the version it
declares, because the versions differ (ODCS v3.1.0 added ``metric:`` quality rules and ``logicalType: timestamp``);
an undeclared or unknown version is refused with the list of supported ones.

One validator, the compiled ``jsonschema_rs``: a valid document costs microseconds (``meshplane plan`` loads
thousands), and its errors already carry the instance path and the schema's own words.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from importlib.util import find_spec
from typing import Any

import jsonschema_rs

from meshplane.spec.yamlsafe import YamlDocument, vouch, vouched
from meshplane.types import Problem

__all__ = [
    "ODCS_LATEST",
    "ODCS_VERSIONS",
    "ODPS_LATEST",
    "ODPS_VERSIONS",
    "odcs_schema",
    "odps_schema",
    "schema_errors",
    "schema_verdict",
    "validate_document",
    "validators_stamp",
]

# Newest first. ODCS v3.0.0-v3.1.0 as published in Bitol's repository, v3.2.0 as released in Bitol's
# `open-data-contract-standard` package (it adds property `enum`, and requires `map` on a column without
# logicalType, so it is nobody's default). ODPS v1.1.0 is not published by Bitol: v1.0.0 (and v0.9.0) only.
ODCS_VERSIONS = ("v3.2.0", "v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0")
ODPS_VERSIONS = ("v1.0.0", "v0.9.0")
ODCS_LATEST = "v3.1.0"  # what examples, scaffolds and datacontract-cli 1.2 agree on
ODPS_LATEST = ODPS_VERSIONS[0]

_SUPPORTED = {"odcs": ODCS_VERSIONS, "odps": ODPS_VERSIONS}
_ADVISED = {"odcs": ODCS_LATEST, "odps": ODPS_LATEST}
_FILES = {"odcs": "odcs-json-schema-{}.json", "odps": "odps-json-schema-{}.json"}
# Bitol's ODPS v1.0.0 schema lists v0.9.0 in its apiVersion enum (its own examples declare it): it is the
# schema of both.
_SCHEMA_OF = {("odps", "v0.9.0"): "v1.0.0"}


def _schema(kind: str, api_version: str) -> dict[str, Any]:
    return _schema_file(_FILES[kind].format(_SCHEMA_OF.get((kind, api_version), api_version)))


@cache
def _schema_file(name: str) -> dict[str, Any]:
    text = resources.files("meshplane.spec").joinpath("standards", name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def odcs_schema(api_version: str = ODCS_LATEST) -> dict[str, Any]:
    """The official ODCS JSON Schema of ``api_version`` (one of :data:`ODCS_VERSIONS`)."""
    if api_version not in ODCS_VERSIONS:
        raise ValueError(f"unsupported ODCS apiVersion {api_version!r}; supported: {', '.join(ODCS_VERSIONS)}")
    return _schema("odcs", api_version)


def odps_schema(api_version: str = ODPS_LATEST) -> dict[str, Any]:
    """The official ODPS JSON Schema of ``api_version`` (one of :data:`ODPS_VERSIONS`)."""
    if api_version not in ODPS_VERSIONS:
        raise ValueError(f"unsupported ODPS apiVersion {api_version!r}; supported: {', '.join(ODPS_VERSIONS)}")
    return _schema("odps", api_version)


@cache
def _validator(kind: str, api_version: str) -> Any:
    return jsonschema_rs.validator_for(_schema(kind, api_version))


def _where(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(error: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    """(path, message, fix) of one jsonschema_rs error; the message is the schema's own constraint."""
    path = tuple(error.instance_path)
    where = _where(path)
    prefix = f"{where}: " if where else ""
    kind = error.kind
    name = kind.name
    if name in ("additionalProperties", "unevaluatedProperties"):
        unexpected = [str(key) for key in getattr(kind, "unexpected", [])]
        if unexpected:
            return [
                (
                    (*path, key),
                    f"unknown field {key!r}" + (f" in {where}" if where else ""),
                    "remove or rename it (meshplane settings go in customProperties)",
                )
                for key in unexpected
            ]
    if name == "required":
        return [(path, f"{prefix}missing required field {kind.property!r}", f"add {kind.property}: ...")]
    if name == "enum":
        allowed = ", ".join(str(v) for v in kind.options)
        return [(path, f"{prefix}{error.instance!r} is not allowed", f"use one of: {allowed}")]
    if name == "const":
        return [(path, f"{prefix}{error.instance!r} is not allowed", f"write {kind.expected_value}")]
    if name == "type":
        types = " or ".join(repr(str(t)) for t in kind.types)
        return [(path, f"{prefix}{error.instance!r} is not of type {types}", f"write a value of type {types}")]
    return [(path, f"{prefix}{error.message}", "")]


def schema_errors(data: Any, kind: str, api_version: str) -> list[str]:
    """``path: message`` of every error of ``data`` under the official schema (for tests and exports)."""
    return [f"{_where(tuple(e.instance_path))}: {e.message}" for e in _validator(kind, api_version).iter_errors(data)]


def _verdict(kind: str, api_version: str) -> str:
    return f"{kind}-schema {api_version}"


def schema_verdict(document: YamlDocument, kind: str) -> str | None:
    """The verdict :func:`validate_document` vouches for when ``document`` is valid (else None), for a parse
    cache's workers to validate in parallel what a load would validate."""
    api_version = document.get("apiVersion") if isinstance(document.data, dict) else None
    if api_version not in _SUPPORTED[kind]:
        return None
    return _verdict(kind, str(api_version)) if _validator(kind, str(api_version)).is_valid(document.data) else None


@cache
def validators_stamp() -> str:
    """What the verdicts of a parse cache depend on (see :func:`meshplane.spec.yamlsafe.vouch`): the schema files,
    the compiled validator and the ODCS model's module (found, not imported: a warm load never needs the model)."""
    parts = [
        _module_stamp(module)
        for module in (
            "open_data_contract_standard.model",
            "jsonschema_rs.jsonschema_rs",
            "pydantic_core._pydantic_core",
        )
    ]
    folder = resources.files("meshplane.spec").joinpath("standards")
    for name in sorted(
        {_FILES[kind].format(_SCHEMA_OF.get((kind, v), v)) for kind, vs in _SUPPORTED.items() for v in vs}
    ):
        try:
            stat = os.stat(str(folder.joinpath(name)))
            parts.append(f"{name} {stat.st_size} {stat.st_mtime_ns}")
        except OSError:
            parts.append(name)
    return "\n".join(parts)


def _module_stamp(name: str) -> str:
    """A module's file, size and modification time, without importing it (its package is imported if any)."""
    try:
        spec = find_spec(name)
    except (ImportError, ValueError):
        spec = None
    origin = spec.origin if spec is not None else None
    if not origin:
        return f"{name} ?"
    try:
        stat = os.stat(origin)
    except OSError:
        return f"{name} {origin}"
    return f"{name} {origin} {stat.st_size} {stat.st_mtime_ns}"


def validate_document(document: YamlDocument, kind: str, label: str) -> list[Problem]:
    """All schema problems of ``document`` (``kind`` is ``odcs`` or ``odps``), each located at its key.

    A valid document's bytes are vouched for in the parse cache (when one is open): the next load of the
    same bytes skips the validation; any change to the file is validated again."""
    supported = _SUPPORTED[kind]
    api_version = document.get("apiVersion")
    if api_version not in supported:
        declared = "no apiVersion" if api_version is None else f"apiVersion {api_version!r}"
        at: tuple[Any, ...] = ("apiVersion",) if api_version is not None else ()
        return [
            Problem(
                document.locate(at),
                f"not a valid {label}: {declared} is not a supported {kind.upper()} version",
                f"write apiVersion: one of {', '.join(supported)} ({_ADVISED[kind]} if in doubt)",
                code=f"{kind}-version",
            )
        ]
    verdict = _verdict(kind, str(api_version))
    if vouched(document, verdict):
        return []
    validator = _validator(kind, str(api_version))
    if validator.is_valid(document.data):
        vouch(document, verdict)
        return []
    errors = sorted(validator.iter_errors(document.data), key=lambda e: [str(p) for p in e.instance_path])
    # When an object fails a conditional branch (a server type's required fields), the schema may also call the
    # keys that branch would have evaluated "unevaluated": report the real failure, not that echo.
    failed = {tuple(e.instance_path) for e in errors if e.kind.name != "unevaluatedProperties"}
    problems: list[Problem] = []
    seen: set[tuple[tuple[Any, ...], str]] = set()
    for error in errors:
        if error.kind.name == "unevaluatedProperties" and tuple(error.instance_path) in failed:
            continue
        for at, message, hint in _explain(error):
            if (at, message) in seen:
                continue
            seen.add((at, message))
            problems.append(
                Problem(document.locate(at), f"not a valid {label}: {message}", hint, code=f"{kind}-schema")
            )
    return problems
