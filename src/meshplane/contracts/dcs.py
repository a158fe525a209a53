"""Convert a Data Contract Specification 1.x document (datacontract.com) into an ODCS v3 document.

DCS keeps ``info``, ``servers`` (a mapping), ``models`` (a mapping of ``fields``), ``terms`` and
``servicelevels``; ODCS keeps ``description``, ``servers`` (a list), ``schema[].properties[]`` and
``slaProperties``. Anything ODCS has no field for goes into ``customProperties``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["dcs_to_odcs"]

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


def _quality(rules: list[Any] | None) -> list[dict[str, Any]]:
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
        elif kind == "custom":
            item.update(
                type="custom", engine=rule.get("engine", "unknown"), implementation=rule.get("implementation", "")
            )
        else:
            item["type"] = "text"
        out.append(item)
    return out


def _property(name: str, field: dict[str, Any], primary: list[str]) -> dict[str, Any]:
    logical, physical = _TYPES.get(str(field.get("type", "string")).lower(), ("string", None))
    prop: dict[str, Any] = {"name": name, "logicalType": logical}
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


def dcs_to_odcs(document: dict[str, Any]) -> dict[str, Any]:
    """An ODCS v3.1 document with the content of a DCS 1.x ``document``."""
    info = document.get("info") or {}
    contract: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": str(document.get("id", "")),
        "name": info.get("title") or str(document.get("id", "")),
        "version": str(info.get("version", "0.0.0")),
        "status": info.get("status", "active"),
    }
    terms = document.get("terms") or {}
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
    servers = []
    for name, server in (document.get("servers") or {}).items():
        entry = {
            "server": name,
            **{
                k: v
                for k, v in (server or {}).items()
                if k
                in (
                    "type",
                    "description",
                    "environment",
                    "format",
                    "path",
                    "location",
                    "host",
                    "port",
                    "database",
                    "schema",
                    "catalog",
                    "delimiter",
                    "account",
                    "project",
                    "dataset",
                )
            },
        }
        servers.append(entry)
    if servers:
        contract["servers"] = servers
    schema = []
    for name, model in (document.get("models") or {}).items():
        model = model or {}
        primary = model.get("primaryKey") or []
        primary = [primary] if isinstance(primary, str) else list(primary)
        obj: dict[str, Any] = {"name": name, "physicalType": model.get("type", "table")}
        if model.get("description"):
            obj["description"] = model["description"]
        if model.get("title"):
            obj["businessName"] = model["title"]
        obj["properties"] = [_property(n, f or {}, primary) for n, f in (model.get("fields") or {}).items()]
        quality = _quality(model.get("quality"))
        if quality:
            obj["quality"] = quality
        schema.append(obj)
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
        }
    )
    contract["customProperties"] = custom
    return contract
