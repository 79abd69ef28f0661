"""Assertion semantics, matching the Java runner's assertion classes.

- ``match``: a string ``/.../`` (after trimming) is a regex searched in the actual *string* with
  Pattern.COMMENTS semantics (whitespace and ``#`` comments ignored); numbers compare numerically
  (1 == 1.0) but booleans never equal numbers; anything else must be equal.
- ``is_true``: the value exists and its text is not "", "false" (any case) or "0"; ``is_false``: the opposite.
- ``length``: of a string, list or object. ``gt``/``gte``/``lt``/``lte``: numeric (or string) ordering.
- ``contains``: a list holds the item, or (for an expected object) an object with all its pairs.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any

SLASHES = "/"


class AssertionFailure(Exception):
    """An assertion that did not hold; the message says what was expected and found."""


def is_regex_literal(expected: Any) -> bool:
    """``/.../`` strings (after trimming) are regexes in ``match``."""
    if not isinstance(expected, str):
        return False
    text = expected.strip()
    return len(text) > 2 and text.startswith(SLASHES) and text.endswith(SLASHES)


def java_regex_to_python(pattern: str, comments: bool) -> str:
    """Translate Java-only regex syntax to Python's ``re``.

    ``\\z`` becomes ``\\Z``; in COMMENTS mode Java also ignores whitespace *inside* character classes,
    Python's VERBOSE does not, so that whitespace is dropped here.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            out.append("\\Z" if escaped == "z" else char + escaped)
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif comments and char.isspace():
                index += 1
                continue
        elif char == "[":
            in_class = True
            out.append(char)
            index += 1
            if index < len(pattern) and pattern[index] == "^":
                out.append("^")
                index += 1
            if index < len(pattern) and pattern[index] == "]":  # a leading ] is literal
                out.append("\\]")
                index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def compile_match_regex(expected: str) -> re.Pattern[str]:
    """Compile a ``match`` regex (``/.../`` with Java's COMMENTS flag)."""
    body = expected.strip()[1:-1]
    return re.compile(java_regex_to_python(body, comments=True), re.VERBOSE)


def compile_catch_regex(catch: str) -> re.Pattern[str]:
    """Compile a ``catch: /.../`` regex (no COMMENTS flag in the Java runner)."""
    return re.compile(java_regex_to_python(catch[1:-1], comments=False))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def values_equal(expected: Any, actual: Any) -> bool:
    """Deep equality where 1 == 1.0 but True != 1 (unlike Python's ``==``)."""
    if is_number(expected) and is_number(actual):
        if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected):
            return math.isnan(actual)
        return bool(expected == actual)  # Python compares int and float by value
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(values_equal(expected[k], actual[k]) for k in expected)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(values_equal(e, a) for e, a in zip(expected, actual, strict=True))
    if type(expected) is not type(actual):
        return False
    return bool(expected == actual)


def java_text(value: Any) -> str:
    """``value.toString()`` as Java renders parsed JSON: ``{a=1, b=[x, y]}``, ``true``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={java_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    return str(value)


def describe(value: Any, limit: int = 400) -> str:
    """A short JSON-ish rendering for failure messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def first_difference(expected: Any, actual: Any, where: str = "") -> str:
    """Where two values first differ, for a readable ``match`` failure."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                return f"{where}.{key}: expected {describe(expected[key])} but the key is missing"
            if not values_equal(expected[key], actual[key]):
                return first_difference(expected[key], actual[key], f"{where}.{key}")
        extra = [key for key in actual if key not in expected]
        return f"{where or '.'}: unexpected key(s) {extra}"
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where or '.'}: expected {len(expected)} item(s) but got {len(actual)}"
        for index, (exp_item, act_item) in enumerate(zip(expected, actual, strict=True)):
            if not values_equal(exp_item, act_item):
                return first_difference(exp_item, act_item, f"{where}.{index}")
    return f"{where or '.'}: expected {describe(expected)} but got {describe(actual)}"


def assert_match(field: str, expected: Any, actual: Any) -> None:
    if is_regex_literal(expected):
        if not isinstance(actual, str):
            raise AssertionFailure(
                f"field [{field}] was expected to be a string matching {expected.strip()} but is {describe(actual)}"
            )
        if not compile_match_regex(expected).search(actual):
            raise AssertionFailure(f"field [{field}] does not match {expected.strip()!r}; actual: {actual!r}")
        return
    if expected is None:
        if actual is not None:
            raise AssertionFailure(f"field [{field}] expected null but got {describe(actual)}")
        return
    if actual is None:
        raise AssertionFailure(f"field [{field}] is missing (expected {describe(expected)})")
    if not values_equal(expected, actual):
        raise AssertionFailure(f"field [{field}] does not match: {first_difference(expected, actual)}")


def is_truthy(value: Any) -> bool:
    """The Java runner's is_true test on ``value.toString()``."""
    if value is None:
        return False
    text = java_text(value)
    return text != "" and text.lower() != "false" and text != "0"


def assert_is_true(field: str, actual: Any) -> None:
    if not is_truthy(actual):
        raise AssertionFailure(f"field [{field}] expected to be true-ish but was {describe(actual)}")


def assert_is_false(field: str, actual: Any) -> None:
    if is_truthy(actual):
        raise AssertionFailure(f"field [{field}] expected to be false-ish but was {describe(actual)}")


def assert_length(field: str, expected: Any, actual: Any) -> None:
    try:
        wanted = int(expected)
    except (TypeError, ValueError) as error:
        raise AssertionFailure(f"length of [{field}]: expected value {expected!r} is not a number") from error
    if not isinstance(actual, (str, list, dict)):
        raise AssertionFailure(f"field [{field}] has no length: {describe(actual)}")
    if len(actual) != wanted:
        raise AssertionFailure(f"field [{field}] has length {len(actual)}, expected {wanted}: {describe(actual)}")


_COMPARATORS = {
    "gt": (lambda a, b: a > b, ">"),
    "gte": (lambda a, b: a >= b, ">="),
    "lt": (lambda a, b: a < b, "<"),
    "lte": (lambda a, b: a <= b, "<="),
}


def assert_compare(op: str, field: str, expected: Any, actual: Any) -> None:
    compare, symbol = _COMPARATORS[op]
    if actual is None:
        raise AssertionFailure(f"field [{field}] is missing (expected {symbol} {describe(expected)})")
    if is_number(actual) and isinstance(expected, str):
        with contextlib.suppress(ValueError):
            expected = float(expected)
    comparable = (is_number(actual) and is_number(expected)) or (isinstance(actual, str) and isinstance(expected, str))
    if not comparable:
        raise AssertionFailure(f"field [{field}]: cannot compare {describe(actual)} {symbol} {describe(expected)}")
    if not compare(actual, expected):
        raise AssertionFailure(f"field [{field}] is {describe(actual)}, expected {symbol} {describe(expected)}")


def assert_contains(field: str, expected: Any, actual: Any) -> None:
    if not isinstance(actual, list):
        raise AssertionFailure(f"field [{field}] expected to be a list but was {describe(actual)}")
    if isinstance(expected, dict):
        for item in actual:
            if isinstance(item, dict) and all(k in item and values_equal(v, item[k]) for k, v in expected.items()):
                return
        raise AssertionFailure(f"field [{field}] has no object containing {describe(expected)}: {describe(actual)}")
    if not any(values_equal(expected, item) for item in actual):
        raise AssertionFailure(f"field [{field}] does not contain {describe(expected)}: {describe(actual)}")


def assert_close_to(field: str, expected: Any, actual: Any) -> None:
    """``close_to: {path: {value: v, error: e}}`` (newer suites)."""
    if not isinstance(expected, dict) or "value" not in expected:
        raise AssertionFailure(f"close_to [{field}] needs {{value, error}}")
    if not is_number(actual):
        raise AssertionFailure(f"field [{field}] is not a number: {describe(actual)}")
    error = float(expected.get("error", 0))
    if abs(float(actual) - float(expected["value"])) > error:
        raise AssertionFailure(f"field [{field}] = {actual} is not within {error} of {expected['value']}")
