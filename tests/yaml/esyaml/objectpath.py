"""Dotted-path lookups into a response: ``hits.hits.0._source``.

Rules of the Java runner's ObjectPath: segments split on unescaped dots (``\\.`` is a literal dot, needed
for keys like ``index.number_of_shards``); a numeric segment indexes a list; a missing level yields None;
the empty path is the whole object; ``_arbitrary_key_`` yields some key of a mapping; a segment holding a
stash reference (``$node_id``, or ``${x}`` inside it) is resolved first (``stash_in_path``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ARBITRARY_KEY = "_arbitrary_key_"
_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")

Resolver = Callable[[str], Any]


def split_path(path: str) -> list[str]:
    """``a.b\\.c.0`` -> ``["a", "b.c", "0"]``; the empty path has no segments."""
    if path == "":
        return []
    return [segment.replace("\\.", ".") for segment in _UNESCAPED_DOT.split(path)]


def evaluate(obj: Any, path: str, resolve: Resolver | None = None) -> Any:
    """The value at ``path`` in ``obj`` or None; ``resolve`` turns stash references into values."""
    current = obj
    for segment in split_path(path):
        if resolve is not None and ("$" in segment):
            segment = str(resolve(segment))
        current = _step(current, segment)
        if current is None:
            return None
    return current


def _step(current: Any, segment: str) -> Any:
    if isinstance(current, dict):
        if segment == ARBITRARY_KEY:
            if not current:
                raise LookupError("cannot pick an arbitrary key of an empty object")
            return next(iter(current))
        return current.get(segment)
    if isinstance(current, list):
        try:
            index = int(segment)
        except ValueError:
            return None
        return current[index] if 0 <= index < len(current) else None
    return None
