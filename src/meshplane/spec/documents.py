"""Reading one mesh file into checked data: the top-level shape, Pydantic models, semver fields."""

from __future__ import annotations

import difflib
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import semver
from pydantic import BaseModel, ValidationError

from meshplane.spec.contracts import snake_case
from meshplane.spec.models import NAME_PATTERN
from meshplane.spec.yamlsafe import YamlDocument, read_yaml
from meshplane.types import Problem, SourceLocation

__all__ = ["check_semver", "read_mapping", "read_model", "render_path"]

_Model = TypeVar("_Model", bound=BaseModel)


def read_mapping(path: Path, problems: list[Problem]) -> YamlDocument | None:
    result = read_yaml(path)
    if isinstance(result, Problem):
        problems.append(result)
        return None
    if result.data is None:
        problems.append(
            Problem(
                SourceLocation(path, 1, 1),
                "the file is empty",
                f"write the keys of {path.name} (docs/mesh-format.md shows them)",
                code="yaml-shape",
            )
        )
        return None
    if not isinstance(result.data, dict):
        found = "a list" if isinstance(result.data, list) else f"a single {type(result.data).__name__} value"
        problems.append(
            Problem(
                SourceLocation(path, 1, 1),
                f"expected a mapping of keys at the top of the file, found {found}",
                "write `key: value` lines at the top level, without a leading '- '",
                code="yaml-shape",
            )
        )
        return None
    return result


def render_path(path: tuple[str | int, ...]) -> str:
    """``("terms", 0, "name")`` -> ``terms[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at ``path`` (for "did you mean" hints)."""
    annotation: Any = model
    for part in path:
        while True:
            origin = typing.get_origin(annotation)
            if origin in (typing.Union, types.UnionType):
                annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
            elif origin in (tuple, list) and isinstance(part, int):
                annotation = typing.get_args(annotation)[0]
                break
            elif origin is dict:
                annotation = typing.get_args(annotation)[1]
                break
            else:
                break
        if isinstance(part, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            annotation = field.annotation if field is not None else None
    while typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _model_problem(document: YamlDocument, model: type[BaseModel], label: str, item: Any) -> Problem:
    loc = tuple(item["loc"])
    where = render_path(loc) or "the document"
    kind = item["type"]
    value = item.get("input")
    detail, hint = str(item["msg"]), ""
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        detail = "unknown key"
        hint = f"did you mean {close[0]!r}?" if close else f"remove it; allowed here: {', '.join(known)}"
    elif kind == "missing":
        detail, hint = "required key is missing", f"add {loc[-1]}: ..."
    elif kind == "string_pattern_mismatch":
        pattern = str(item.get("ctx", {}).get("pattern", ""))
        if pattern == NAME_PATTERN.pattern:
            detail, hint = f"{value!r} is not lower_snake_case", f"write {snake_case(str(value))}"
        else:
            detail, hint = f"{value!r} does not match {pattern}", "use lowercase letters, digits, '_' and '-'"
    elif kind in ("literal_error", "enum"):
        detail, hint = f"{value!r} is not allowed", f"use {item.get('ctx', {}).get('expected', '')}"
    elif isinstance(value, dict | list) or value is None:
        detail = str(item["msg"])
    else:
        detail = f"{value!r}: {item['msg']}"
    return Problem(document.locate(loc), f"{label}: {where}: {detail}", hint, code="spec-field")


def read_model(document: YamlDocument, model: type[_Model], label: str, problems: list[Problem]) -> _Model | None:
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        problems.extend(_model_problem(document, model, label, item) for item in error.errors())
        return None


@lru_cache(maxsize=1024)  # thousands of files repeat a few versions (1.0.0)
def _valid_semver(text: str) -> bool:
    return bool(semver.Version.is_valid(text))


def check_semver(document: YamlDocument, key: tuple[str | int, ...], value: Any, problems: list[Problem]) -> None:
    if not _valid_semver(str(value)):
        problems.append(
            Problem(
                document.locate(key),
                f"version {value!r} is not semantic versioning",
                "write MAJOR.MINOR.PATCH, e.g. 1.0.0",
                code="semver",
            )
        )
