"""Writing YAML that every reader parses to the same data: YAML 1.2 (ruamel, Go, JS) and YAML 1.1 (PyYAML).

The two differ on plain scalars: ``23:59:59`` is an integer (sexagesimal) and ``yes``/``on`` are booleans to
YAML 1.1, ``1e3`` is a float only to YAML 1.2. A string that any of them would read as something else is
quoted; nothing is folded or wrapped (a folded line turns a double space into one for some readers).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["dump_portable"]


class _PortableDumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type hints
    """PyYAML's YAML 1.1 resolvers plus the YAML 1.2 core schema's: a string matching either is quoted."""


_YAML12 = {
    "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    "tag:yaml.org,2002:null": (r"^(?:~|null|Null|NULL)$", "~nN"),
    "tag:yaml.org,2002:int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    "tag:yaml.org,2002:float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
}
for _tag, (_pattern, _first) in _YAML12.items():
    _PortableDumper.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text as a literal block keeps every line and space as written (PyYAML falls back to quotes
    # when a block cannot carry the value exactly, e.g. trailing spaces).
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PortableDumper.add_representer(str, _str)


def dump_portable(data: Any) -> str:
    """``data`` as block YAML in key order, readable alike by YAML 1.1 and 1.2 parsers."""
    text: str = yaml.dump(
        data,
        Dumper=_PortableDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,
    )
    return text
