"""The stash: values saved by ``set`` (and the last response body) for use in later steps.

As in the Java runner: a string that is exactly ``$name`` is replaced by the stashed value with its type
kept; ``${name}`` inside a longer string is replaced by the value's text; keys of mappings are replaced
too (``stash_in_key``). ``body`` always holds the last response body.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .objectpath import evaluate

_EXTENDED_KEY = re.compile(r"\$\{([^}]+)\}")


class StashError(Exception):
    """A ``$name`` reference to a value that was never stashed."""


class Stash:
    """A per-test mapping of stashed names to values."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def clear(self) -> None:
        self._values.clear()

    def put(self, name: str, value: Any) -> None:
        self._values[name] = value

    def __contains__(self, name: str) -> bool:
        return name in self._values

    @staticmethod
    def is_reference(text: Any) -> bool:
        """Whether ``text`` refers to a stashed value (``$name`` or contains ``${name}``)."""
        return isinstance(text, str) and (text.startswith("$") and len(text) > 1 or bool(_EXTENDED_KEY.search(text)))

    def lookup(self, name: str) -> Any:
        """The value stashed as ``name``; ``a.b`` paths reach into a stashed object."""
        if name in self._values:
            return self._values[name]
        head, _, rest = name.partition(".")
        if rest and head in self._values:
            return evaluate(self._values[head], rest, self.resolve_text)
        raise StashError(f"stashed value not found for key [{name}]")

    def resolve_text(self, text: str) -> Any:
        """Resolve one string: ``$name`` keeps the value's type, ``${name}`` parts become text."""
        if text.startswith("$") and not text.startswith("${"):
            return self.lookup(text[1:])
        whole = _EXTENDED_KEY.fullmatch(text)
        if whole:
            return self.lookup(whole.group(1))
        return _EXTENDED_KEY.sub(lambda found: _as_text(self.lookup(found.group(1))), text)

    def replace(self, value: Any) -> Any:
        """Deep-copy ``value`` with every stash reference (values and keys) resolved."""
        if isinstance(value, str):
            return self.resolve_text(value) if self.is_reference(value) else value
        if isinstance(value, dict):
            return {
                (_as_text(self.resolve_text(key)) if self.is_reference(key) else key): self.replace(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.replace(item) for item in value]
        return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
