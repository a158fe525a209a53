"""Validation against the official Bitol JSON Schemas (ODPS, ODCS), with located problems.

The schemas are read from the packages that Bitol and its community publish, not retyped here:
ODCS from ``open-data-contract-standard``, ODPS from ``dataproduct-cli``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from meshplane.spec.yamlsafe import YamlDocument
from meshplane.types import Problem

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


def _message(error: ValidationError) -> tuple[str, str]:
    where = ".".join(str(p) for p in error.absolute_path) or "the document"
    if error.validator == "required":
        return f"{where}: {error.message}", "add the missing field"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message}", "remove or rename the unknown field (settings go in customProperties)"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed", f"use one of: {allowed}"
    if error.validator == "type":
        return f"{where}: {error.message}", f"write a value of type {error.validator_value}"
    return f"{where}: {error.message}", ""


def validate_document(document: YamlDocument, kind: str, label: str) -> list[Problem]:
    """All schema problems of ``document`` (``kind`` is ``odcs`` or ``odps``), each located."""
    api_version = str(document.get("apiVersion") or "")
    validator = _validator(kind, api_version)
    problems: list[Problem] = []
    seen: set[tuple[Any, ...]] = set()
    for raw_error in sorted(validator.iter_errors(document.data), key=lambda e: list(map(str, e.path))):
        error = _best(raw_error)
        path = tuple(error.absolute_path)
        message, hint = _message(error)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            extra = [k for k in error.instance if k not in allowed]
            if extra:
                path = (*path, extra[0])
        key = (path, message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(
            Problem(
                document.locate(path),
                f"not a valid {label}: {message}",
                hint,
                code=f"{kind}-schema",
            )
        )
    return problems
