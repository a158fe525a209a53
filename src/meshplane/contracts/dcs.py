"""Convert a Data Contract Specification 1.x document (datacontract.com) into an ODCS v3 document.

DCS keeps ``info``, ``servers`` (a mapping), ``models`` (a mapping of ``fields``), ``terms`` and
``servicelevels``; ODCS keeps ``description``, ``servers`` (a list), ``schema[].properties[]`` and
``slaProperties``. Anything ODCS has no field for goes into ``customProperties``; ``$ref``s to ``definitions``
are resolved; quality blocks in another tool's language (SodaCL, Great Expectations, ...) become ``custom`` rules
for that engine; ``examples`` are kept. Nothing is invented: a value ODCS requires that the DCS document does
not state (``info.status``) is an error naming what to add, and whatever cannot be carried is listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshplane.spec.schemas import odcs_schema

__all__ = ["DcsConversion", "dcs_to_odcs"]


@dataclass(frozen=True)
class DcsConversion:
    """The ODCS document, what could not be carried (``path: why``), and what ODCS requires but is missing."""

    document: dict[str, Any]
    not_carried: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# DCS field type -> (ODCS logicalType, DuckDB physicalType or None)
_TYPES: dict[str, tuple[str, str | None]] = {
    "string": ("string", "VARCHAR"),
    "text": ("string", "VARCHAR"),
    "varchar": ("string", "VARCHAR"),
    "number": ("number", None),
    "decimal": ("number", "DECIMAL"),
    "numeric": ("number", "DECIMAL"),
    "float": ("number", "FLOAT"),
    "double": ("number", "DOUBLE"),
    "int": ("integer", "INTEGER"),
    "integer": ("integer", "INTEGER"),
    "long": ("integer", "BIGINT"),
    "bigint": ("integer", "BIGINT"),
    "boolean": ("boolean", "BOOLEAN"),
    "timestamp": ("timestamp", "TIMESTAMPTZ"),
    "timestamp_tz": ("timestamp", "TIMESTAMPTZ"),
    "timestamp_ntz": ("timestamp", "TIMESTAMP"),
    "date": ("date", "DATE"),
    "time": ("time", "TIME"),
    "array": ("array", None),
    "object": ("object", None),
    "record": ("object", None),
    "struct": ("object", None),
    "map": ("map", None),
    "bytes": ("string", "BLOB"),
    "null": ("string", None),
}
_OPTION_KEYS = (
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
)
_OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")
_ISO_PERIOD = re.compile(r"^P(\d+)([YMWD])$")


def _custom(pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"property": k, "value": v} for k, v in pairs.items() if v is not None]


_ENGINES = {"sodacl": "soda", "soda": "soda", "great-expectations": "greatExpectations", "montecarlo": "monteCarlo"}


def _block(block: dict[str, Any]) -> dict[str, Any]:
    """A DCS 1.0 quality block (``{type: SodaCL, specification: ...}``) as an ODCS custom rule."""
    kind = str(block.get("type", ""))
    rule: dict[str, Any] = {"type": "custom", "engine": _ENGINES.get(kind.lower(), kind)}
    rule["implementation"] = block.get("specification", "")
    if block.get("description"):
        rule["description"] = block["description"]
    return rule


def _quality(rules: list[Any] | dict[str, Any] | None) -> list[dict[str, Any]]:
    if isinstance(rules, dict):  # DCS 1.0: one block in a tool's own language
        return [_block(rules)]
    out: list[dict[str, Any]] = []
    for rule in rules or []:
        if not isinstance(rule, dict):
            continue
        kind = rule.get("type", "library" if "metric" in rule else "text")
        item: dict[str, Any] = {
            k: rule[k] for k in ("name", "description", "dimension", "severity", "unit") if k in rule
        }
        item.update({k: rule[k] for k in _OPERATORS if k in rule})
        if kind == "sql":
            query = str(rule.get("query", ""))
            item.update(type="sql", query=query.replace("{model}", "{object}").replace("{field}", "{property}"))
        elif kind in ("library",) or "metric" in rule:
            item["metric"] = rule.get("metric")
            if rule.get("arguments"):
                item["arguments"] = rule["arguments"]
        elif kind == "custom" or str(kind).lower() in _ENGINES:
            item["type"] = "custom"
            engine = rule.get("engine") or _ENGINES.get(str(kind).lower())
            if engine:
                item["engine"] = engine
            item["implementation"] = rule.get("implementation", rule.get("specification", ""))
        else:
            item["type"] = "text"
        out.append(item)
    return out


_FIELD_KEYS = frozenset(
    {"type", "precision", "scale", "description", "required", "unique", "tags", "examples", "title", "primaryKey",
     "primary", "classification", "pii", "enum", "references", "fields", "quality", "config", "links", "lineage",
     *_OPTION_KEYS}
)  # fmt: skip


def _property(name: str, field: dict[str, Any], primary: list[str]) -> dict[str, Any]:
    logical, physical = _TYPES.get(str(field["type"]).lower(), ("string", None)) if "type" in field else (None, None)
    prop: dict[str, Any] = {"name": name}
    if logical:
        prop["logicalType"] = logical
    if physical == "DECIMAL" and field.get("precision") is not None:
        physical = f"DECIMAL({field['precision']},{field.get('scale', 0)})"
    if physical:
        prop["physicalType"] = physical
    for key in ("description", "required", "unique", "tags", "examples"):
        if field.get(key) is not None:
            prop[key] = field[key]
    if field.get("title"):
        prop["businessName"] = field["title"]
    if field.get("primaryKey") or field.get("primary") or name in primary:
        prop["primaryKey"] = True
        prop["primaryKeyPosition"] = primary.index(name) + 1 if name in primary else 1
    classification = field.get("classification") or ("pii" if field.get("pii") else None)
    if classification:
        prop["classification"] = classification
    options = {k: field[k] for k in _OPTION_KEYS if field.get(k) is not None}
    if options and logical in ("string", "integer", "number", "date", "timestamp", "time"):
        if logical != "string":
            options.pop("pattern", None)
            options.pop("minLength", None)
            options.pop("maxLength", None)
        prop["logicalTypeOptions"] = options
    if field.get("enum"):
        prop["enum"] = [{"value": v} for v in field["enum"]]
    if field.get("references"):
        prop["relationships"] = [{"type": "foreignKey", "to": field["references"]}]
    if field.get("fields") and logical == "object":
        prop["properties"] = [_property(n, f or {}, []) for n, f in field["fields"].items()]
    if field.get("items") and logical == "array":
        prop["items"] = _property("items", field["items"] or {}, [])
        prop["items"].pop("name")
    quality = _quality(field.get("quality"))
    if quality:
        prop["quality"] = quality
    extra = {k: field.get(k) for k in ("config", "links", "lineage") if field.get(k)}
    if extra:
        prop["customProperties"] = _custom(extra)
    return prop


def _sla(servicelevels: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, spec in (servicelevels or {}).items():
        if not isinstance(spec, dict):
            continue
        raw = spec.get("percentage") or spec.get("threshold") or spec.get("period") or spec.get("interval")
        if raw is None:
            continue
        item: dict[str, Any] = {"property": name}
        text = str(raw).rstrip("%").strip()
        duration, period = _DURATION.match(text), _ISO_PERIOD.match(text)
        if str(raw).endswith("%"):
            item.update(value=float(text), unit="percent")
        elif period:
            item.update(value=int(period.group(1)), unit={"Y": "y", "M": "mo", "W": "w", "D": "d"}[period.group(2)])
        elif duration:
            number = float(duration.group(1))
            item.update(value=int(number) if number.is_integer() else number, unit=duration.group(2))
        else:
            item["value"] = str(raw)
        if spec.get("description"):
            item["description"] = spec["description"]
        if spec.get("timestampField"):
            item["element"] = spec["timestampField"]
        out.append(item)
    return out


_TOP_KEYS = frozenset(
    {"dataContractSpecification", "id", "info", "servers", "terms", "models", "definitions", "servicelevels",
     "quality", "examples", "tags"}
)  # fmt: skip
_INFO_KEYS = frozenset({"title", "version", "status", "description", "owner", "contact"})
_TERMS_KEYS = frozenset({"usage", "limitations", "billing", "noticePeriod"})
_MODEL_KEYS = frozenset({"type", "description", "title", "fields", "primaryKey", "quality"})


def _resolve(node: Any, definitions: dict[str, Any], where: str, not_carried: list[str], depth: int = 0) -> Any:
    """``node`` with every ``$ref: '#/definitions/x'`` replaced by the definition (local keys win)."""
    if isinstance(node, list):
        return [_resolve(item, definitions, f"{where}[{i}]", not_carried, depth) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    resolved = {k: _resolve(v, definitions, f"{where}.{k}", not_carried, depth) for k, v in node.items() if k != "$ref"}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/definitions/")
        if ref.startswith("#/definitions/") and name in definitions and depth < 16:
            base = _resolve(definitions[name], definitions, f"definitions.{name}", not_carried, depth + 1)
            base = {k: v for k, v in base.items() if k != "name"} if isinstance(base, dict) else {}
            resolved = {**base, **resolved}
        else:
            not_carried.append(f"{where}.$ref: {ref!r} does not resolve to a local definition")
    return resolved


def _allowed_server_keys(kind: str) -> set[str]:
    """The keys the official v3.1.0 schema allows on a server of type ``kind``."""
    defs = odcs_schema("v3.1.0")["$defs"]
    server = defs["Server"]
    base = set(server["properties"])
    for branch in server.get("allOf", []):
        if branch.get("if", {}).get("properties", {}).get("type", {}).get("const") == kind:
            name = str(branch["then"]["$ref"]).rpartition("/")[2]
            return base | set(defs["ServerSource"][name].get("properties", {}))
    return base


def _server(name: str, server: dict[str, Any]) -> dict[str, Any]:
    """An ODCS server: keys its type does not have (a csv ``delimiter``) go to its customProperties."""
    allowed = _allowed_server_keys(str(server.get("type", "")))
    entry: dict[str, Any] = {"server": name}
    extra: dict[str, Any] = {}
    for key, value in server.items():
        (entry if key in allowed and key != "customProperties" else extra)[key] = value
    if extra:
        entry["customProperties"] = _custom(extra)
    return entry


def dcs_to_odcs(document: dict[str, Any]) -> DcsConversion:
    """An ODCS v3.1 document with the content of a DCS 1.x ``document``, and what it could not carry."""
    not_carried: list[str] = []
    missing: list[str] = []
    definitions = document.get("definitions") or {}
    document = {k: v for k, v in document.items() if k != "definitions"}
    document = _resolve(document, definitions, "", not_carried)
    not_carried += [f"{key}: no ODCS field" for key in document if key not in _TOP_KEYS]
    info = document.get("info") or {}
    not_carried += [f"info.{key}: no ODCS field" for key in info if key not in _INFO_KEYS]
    for key in ("version", "status"):
        if info.get(key) in (None, ""):
            missing.append(f"info.{key}")
    contract: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": str(document.get("id", "")),
        "name": info.get("title") or str(document.get("id", "")),
        "version": str(info.get("version", "")),
        "status": str(info.get("status", "")),
    }
    terms = document.get("terms") or {}
    not_carried += [f"terms.{key}: no ODCS field" for key in terms if key not in _TERMS_KEYS]
    description = {
        k: v
        for k, v in {
            "purpose": info.get("description"),
            "usage": terms.get("usage"),
            "limitations": terms.get("limitations"),
        }.items()
        if v
    }
    if description:
        contract["description"] = description
    if document.get("tags"):
        contract["tags"] = document["tags"]
    servers = [_server(name, server or {}) for name, server in (document.get("servers") or {}).items()]
    if servers:
        contract["servers"] = servers
    schema = []
    for name, model in (document.get("models") or {}).items():
        model = model or {}
        not_carried += [f"models.{name}.{key}: no ODCS field" for key in model if key not in _MODEL_KEYS]
        primary = model.get("primaryKey") or []
        primary = [primary] if isinstance(primary, str) else list(primary)
        obj: dict[str, Any] = {"name": name, "physicalType": model.get("type", "table")}  # DCS's default type
        if model.get("description"):
            obj["description"] = model["description"]
        if model.get("title"):
            obj["businessName"] = model["title"]
        for field_name, spec in (model.get("fields") or {}).items():
            not_carried += [
                f"models.{name}.fields.{field_name}.{key}: no ODCS field"
                for key in spec or {}
                if key not in _FIELD_KEYS and key != "items"
            ]
        obj["properties"] = [_property(n, f or {}, primary) for n, f in (model.get("fields") or {}).items()]
        quality = _quality(model.get("quality"))
        if quality:
            obj["quality"] = quality
        schema.append(obj)
    top_quality = _quality(document.get("quality"))
    if top_quality and schema:
        schema[0]["quality"] = [*schema[0].get("quality", []), *top_quality]
    elif top_quality:
        not_carried.append("quality: no model to attach the rules to")
    contract["schema"] = schema
    sla = _sla(document.get("servicelevels") or {})
    if sla:
        contract["slaProperties"] = sla
    owner = info.get("owner")
    if owner:
        contract["team"] = {"name": owner}
    custom = _custom(
        {
            "dataContractSpecification": document.get("dataContractSpecification"),
            "contact": info.get("contact"),
            "billing": terms.get("billing"),
            "noticePeriod": terms.get("noticePeriod"),
            "examples": document.get("examples"),
        }
    )
    contract["customProperties"] = custom
    return DcsConversion(contract, not_carried, missing)
