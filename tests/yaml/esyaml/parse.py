"""Turn the YAML documents of a test file into the model.

Parsing is strict about structure (an unknown step type or a ``do`` naming two APIs is an error that names
the file and test) so that a silently ignored step can never make a test pass by accident.
"""

from __future__ import annotations

import os
from typing import Any

from .model import (
    AssertStep,
    DoStep,
    Requires,
    Section,
    SetStep,
    Skip,
    Step,
    TestCase,
    TestFile,
    TransformAndSetStep,
)
from .yamlload import load_documents

# Keys of a `do` block that configure the call rather than name the API.
DO_OPTION_KEYS = frozenset(
    {
        "catch",
        "headers",
        "warnings",
        "allowed_warnings",
        "warnings_regex",
        "allowed_warnings_regex",
        "node_selector",
    }
)
PAIR_ASSERTIONS = frozenset({"match", "length", "gt", "gte", "lt", "lte", "contains", "close_to"})
PATH_ASSERTIONS = frozenset({"is_true", "is_false"})


class ParseError(Exception):
    """A test file whose structure the runner does not understand."""


def parse_file(path: str, directory: str) -> TestFile:
    """Read and parse one ``.yml`` file; ``directory`` is the API directory name used in reports."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    test_file = TestFile(path=path, directory=directory, file_name=os.path.basename(path))
    try:
        documents = list(load_documents(text))
    except Exception as error:  # yaml.YAMLError and constructor errors alike
        raise ParseError(f"{path}: invalid YAML: {error}") from error
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ParseError(f"{path}: a document must be a mapping, got {type(document).__name__}")
        for name, body in document.items():
            _add_entry(test_file, str(name), body)
    return test_file


def _add_entry(test_file: TestFile, name: str, body: Any) -> None:
    where = f"{test_file.path} [{name}]"
    if name == "requires" and isinstance(body, dict):
        test_file.requires = parse_requires(body, where)
        return
    section = parse_section(body, where)
    if name == "setup":
        test_file.setup = section
    elif name == "teardown":
        test_file.teardown = section
    else:
        test_file.tests.append(TestCase(name=name, section=section))


def parse_section(body: Any, where: str) -> Section:
    """Parse a list of steps; ``skip``/``requires`` steps become the section's conditions."""
    if body is None:
        return Section()
    if not isinstance(body, list):
        raise ParseError(f"{where}: expected a list of steps, got {type(body).__name__}")
    section = Section()
    for index, raw_step in enumerate(body):
        step_where = f"{where} step {index + 1}"
        if not isinstance(raw_step, dict) or len(raw_step) != 1:
            raise ParseError(f"{step_where}: a step must be a mapping with exactly one key: {raw_step!r}")
        ((op, value),) = raw_step.items()
        if op == "skip":
            section.skip = parse_skip(value, step_where)
        elif op == "requires":
            section.requires = parse_requires(value, step_where)
        else:
            section.steps.extend(parse_step(op, value, step_where))
    return section


def parse_step(op: str, value: Any, where: str) -> list[Step]:
    """Parse one step; pair assertions with several pairs become several steps."""
    if op == "do":
        return [parse_do(value, where)]
    if op in PATH_ASSERTIONS:
        return [AssertStep(op=op, path="" if value is None else str(value))]
    if op in PAIR_ASSERTIONS:
        return [AssertStep(op=op, path=path, expected=expected) for path, expected in _pairs(value, where)]
    if op == "set":
        return [SetStep(path=path, name=str(name)) for path, name in _pairs(value, where)]
    if op == "transform_and_set":
        return [TransformAndSetStep(name=name, expression=str(expr)) for name, expr in _pairs(value, where)]
    raise ParseError(f"{where}: unknown step type [{op}]")


def _pairs(value: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(value, dict) or not value:
        raise ParseError(f"{where}: expected a non-empty mapping, got {value!r}")
    return [(str(key), item) for key, item in value.items()]


def parse_do(value: Any, where: str) -> DoStep:
    """Parse ``do: {catch:..., headers:..., api.name: {params}}``."""
    if not isinstance(value, dict):
        raise ParseError(f"{where}: `do` must be a mapping")
    api_keys = [key for key in value if key not in DO_OPTION_KEYS]
    if len(api_keys) != 1:
        raise ParseError(f"{where}: `do` must name exactly one API, got {api_keys}")
    api = api_keys[0]
    params = value[api]
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ParseError(f"{where}: parameters of [{api}] must be a mapping")
    catch = value.get("catch")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise ParseError(f"{where}: `headers` must be a mapping")
    return DoStep(api=api, params=dict(params), catch=None if catch is None else str(catch), headers=headers)


def _string_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


def parse_skip(value: Any, where: str) -> Skip:
    """Parse ``skip: {version, features, reason, ...}``."""
    if not isinstance(value, dict):
        raise ParseError(f"{where}: `skip` must be a mapping")
    known = {"version", "features", "reason"}
    version = value.get("version")
    return Skip(
        version=None if version is None else str(version),
        features=_string_tuple(value.get("features")),
        reason=str(value.get("reason") or ""),
        other_keys=tuple(sorted(key for key in value if key not in known)),
    )


def parse_requires(value: Any, where: str) -> Requires:
    """Parse ``requires: {stack, serverless, test_runner_features, cluster_features, reason}``."""
    if not isinstance(value, dict):
        raise ParseError(f"{where}: `requires` must be a mapping")
    return Requires(
        stack=value.get("stack"),
        serverless=value.get("serverless"),
        features=_string_tuple(value.get("test_runner_features")),
        cluster_features=_string_tuple(value.get("cluster_features")),
        reason=str(value.get("reason") or ""),
    )
