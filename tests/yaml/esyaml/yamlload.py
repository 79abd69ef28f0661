"""Load YAML test files the way Elasticsearch's runner reads them.

Why not ``yaml.safe_load``: PyYAML implements YAML 1.1, so unquoted scalars such as ``2020-01-01`` turn
into ``datetime`` objects, ``010`` into octal 8, ``1:20`` into 80 and ``yes``/``on`` into booleans, and
numeric mapping keys stay integers. The Java runner parses with Jackson, which keeps those as strings
(timestamps) or plain decimal numbers and always has string keys. This loader uses the YAML 1.2 core
schema (null, true/false, decimal/hex/octal ints, floats) and turns every mapping key into the text it was
written as, so request bodies and expected values are what the test authors meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

_CORE_RESOLVERS: list[tuple[str, re.Pattern[str], list[str]]] = [
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    ),
    ("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"]),
]


class EsYamlLoader(yaml.SafeLoader):
    """SafeLoader with core-schema scalars and string mapping keys."""


# Start from no implicit resolvers at all, then add only the core schema's.
EsYamlLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in _CORE_RESOLVERS:
    EsYamlLoader.add_implicit_resolver(_tag, _regexp, _first)


def _construct_int(loader: EsYamlLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # leading zeros stay decimal, as in JSON-minded parsers


def _construct_mapping(loader: EsYamlLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = str(key_node.value)  # the key exactly as written: `1` -> "1", `true` -> "true"
        else:
            key = str(loader.construct_object(key_node, deep=True))
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


EsYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
EsYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def load_documents(text: str) -> Iterator[Any]:
    """Yield each YAML document of a multi-document test file."""
    return yaml.load_all(text, Loader=EsYamlLoader)  # noqa: S506 - SafeLoader subclass
