"""Validation against the official Bitol JSON Schemas (ODPS, ODCS), with located problems.

The schemas are read from the packages that Bitol and its community publish, not retyped here:
ODCS from ``open-data-contract-standard``, ODPS from ``dataproduct-cli``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from meshplane.spec.yamlsafe import YamlDocument
from meshplane.types import Problem

if TYPE_CHECKING:  # the Python validator only explains invalid documents; valid ones never import it
    from jsonschema.exceptions import ValidationError

__all__ = ["ODCS_VERSIONS", "ODPS_VERSIONS", "odcs_schema", "odps_schema", "validate_document"]

ODPS_VERSIONS = ("v1.1.0", "v1.0.0")
ODCS_VERSIONS = ("v3.2.0", "v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0")


@cache
def odcs_schema() -> dict[str, Any]:
    text = resources.files("open_data_contract_standard").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def odps_schema(api_version: str = "v1.1.0") -> dict[str, Any]:
    # The newest published schema admits every 1.x apiVersion in its enum, so it validates them all.
    name = "odps-1.1.0.schema.json"
    text = resources.files("dataproduct").joinpath("schemas", name).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(kind: str, api_version: str) -> Any:
    from jsonschema import Draft201909Validator
    from jsonschema.validators import validator_for

    schema = odcs_schema() if kind == "odcs" else odps_schema(api_version)
    cls = validator_for(schema, default=Draft201909Validator)
    return cls(schema)


def _best(error: ValidationError) -> ValidationError:
    """Descend into oneOf/anyOf contexts to the most specific failure."""
    while error.context:
        deepest = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.message)))
        if len(deepest.absolute_path) < len(error.absolute_path):
            break
        error = deepest
    return error


_EXTRA = ("additionalProperties", "unevaluatedProperties")


def _where(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: ValidationError) -> tuple[str, str]:
    where = _where(tuple(error.absolute_path))
    prefix = f"{where}: " if where else ""
    if error.validator == "required":
        missing = next((k for k in error.validator_value if k not in (error.instance or {})), "")
        return f"{prefix}missing required field {missing!r}", f"add {missing}: ..."
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{prefix}{error.instance!r} is not allowed", f"use one of: {allowed}"
    if error.validator == "const":
        return f"{prefix}{error.instance!r} is not allowed", f"write {error.validator_value}"
    if error.validator == "type":
        return f"{prefix}{error.message}", f"write a value of type {error.validator_value}"
    return f"{prefix}{error.message}", ""


def _unknown_fields(error: ValidationError) -> list[str]:
    if not isinstance(error.instance, dict):
        return []
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        return [k for k in error.instance if k not in allowed]
    # unevaluatedProperties: jsonschema names the offending keys in its message.
    return [k for k in error.instance if repr(k) in error.message]


@cache
def _fast_validator(kind: str, api_version: str) -> Any:
    import jsonschema_rs

    schema = odcs_schema() if kind == "odcs" else odps_schema(api_version)
    return jsonschema_rs.validator_for(schema)


def validate_document(document: YamlDocument, kind: str, label: str) -> list[Problem]:
    """All schema problems of ``document`` (``kind`` is ``odcs`` or ``odps``), each located.

    A compiled (Rust) validator answers the common case, a valid document, in microseconds; only an invalid
    document pays for the Python validator that explains every error with its path.
    """
    api_version = str(document.get("apiVersion") or "")
    if _fast_validator(kind, api_version).is_valid(document.data):
        return []
    validator = _validator(kind, api_version)
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    errors = [_best(e) for e in sorted(validator.iter_errors(document.data), key=lambda e: list(map(str, e.path)))]
    # When an object fails a conditional branch (a server type's required fields), the schema also calls the
    # keys that branch would have evaluated "unevaluated": report the real failure, not that echo.
    failed = {tuple(e.absolute_path) for e in errors if e.validator not in _EXTRA}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "unevaluatedProperties" and path in failed:
            continue
        found: list[tuple[tuple[Any, ...], str, str]]
        if error.validator in _EXTRA and (extra := _unknown_fields(error)):
            where = _where(path)
            found = [
                (
                    (*path, key),
                    f"unknown field {key!r}" + (f" in {where}" if where else ""),
                    "remove or rename it (meshplane settings go in customProperties)",
                )
                for key in extra
            ]
        else:
            found = [(path, *_message(error))]
        for at, message, hint in found:
            if (at, message) in seen:
                continue
            seen.add((at, message))
            location = document.locate(at)
            problems.append(Problem(location, f"not a valid {label}: {message}", hint, code=f"{kind}-schema"))
    return problems
