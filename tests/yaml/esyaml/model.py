"""The parsed form of a YAML REST test file.

Kept separate from parsing and execution so the dry run, the executor and the self-tests all work on the
same plain data: a file has an optional setup and teardown section and named tests; a section is a list of
steps plus the skip/requires conditions that guard it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Skip:
    """A ``skip:`` block: skip when the version is in a range or a feature is unsupported."""

    version: str | None = None
    features: tuple[str, ...] = ()
    reason: str = ""
    other_keys: tuple[str, ...] = ()  # e.g. `os`, `awaits_fix`, `cluster_features` (newer formats)


@dataclass(frozen=True)
class Requires:
    """A ``requires:`` block (newer format): what the target must offer for the tests to run."""

    stack: bool | None = None
    serverless: bool | None = None
    features: tuple[str, ...] = ()
    cluster_features: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class DoStep:
    """An API call: ``do: {api.name: {params}}`` plus catch/headers/warnings options."""

    api: str
    params: dict[str, Any]
    catch: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass
class AssertStep:
    """An assertion: ``match``/``length``/``gt``... take {path: expected}; ``is_true``/``is_false`` a path."""

    op: str
    path: str
    expected: Any = None


@dataclass
class SetStep:
    """``set: {path: stash_name}``: stash a value of the last response."""

    path: str
    name: str


@dataclass
class TransformAndSetStep:
    """``transform_and_set: {stash_name: "#base64EncodeCredentials(a,b)"}``."""

    name: str
    expression: str


Step = DoStep | AssertStep | SetStep | TransformAndSetStep


@dataclass
class Section:
    """A list of steps guarded by an optional skip and requires block."""

    steps: list[Step] = field(default_factory=list)
    skip: Skip | None = None
    requires: Requires | None = None


@dataclass
class TestCase:
    """One named test of a file."""

    __test__ = False  # not a pytest test class

    name: str
    section: Section


@dataclass
class TestFile:
    """A whole ``.yml`` file: the unit that shares setup and teardown."""

    __test__ = False  # not a pytest test class

    path: str  # filesystem path
    directory: str  # API directory as reported, e.g. "indices.create" or "modern/indices"
    file_name: str  # e.g. "10_basic.yml"
    setup: Section | None = None
    teardown: Section | None = None
    tests: list[TestCase] = field(default_factory=list)
    requires: Requires | None = None  # a file-level `requires:` document (clients-tests format)

    def test_id(self, test_name: str) -> str:
        """The id used in expected-pass lists and reports: ``dir/file.yml/test name``."""
        return f"{self.directory}/{self.file_name}/{test_name}"

    def exclusion_key(self, test_name: str) -> str:
        """The string exclusion regexes match: ``dir/file/test name`` (no ``.yml``)."""
        stem = self.file_name[:-4] if self.file_name.endswith(".yml") else self.file_name
        return f"{self.directory}/{stem}/{test_name}"
