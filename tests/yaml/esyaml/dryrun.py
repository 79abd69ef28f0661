"""``--dry-run``: parse every selected file and check every step without a server.

Beyond counting tests, it builds the HTTP request of each ``do`` (stash references replaced by a
placeholder), compiles every regex and checks ``catch`` values, so problems in the runner's spec handling
surface before tern can answer a single request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import assertions
from .discovery import Exclusion, static_skip_reason
from .executor import NAMED_CATCHES, drop_doc_type, parse_ignore
from .model import AssertStep, DoStep, Section, TestFile
from .skips import Version
from .spec import ClientParamError, SpecRegistry, UnknownApiError
from .stash import Stash

PLACEHOLDER = "stashed-value"


class PlaceholderStash(Stash):
    """Resolves every reference to a placeholder: enough to build requests offline."""

    def lookup(self, name: str) -> Any:
        return PLACEHOLDER


@dataclass
class DirCount:
    files: int = 0
    tests: int = 0
    skipped: int = 0
    requests: int = 0

    @property
    def runnable(self) -> int:
        return self.tests - self.skipped


@dataclass
class DryRunResult:
    counts: dict[str, DirCount] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    used_exclusions: set[str] = field(default_factory=set)


def reason_category(reason: str) -> str:
    """Group skip reasons for the dry-run summary."""
    if reason.startswith("excluded by"):
        return reason.split(":", 1)[0]
    if reason.startswith("skip version"):
        return "skip: version range covers the target version"
    return reason


def check_file(
    test_file: TestFile,
    registry: SpecRegistry,
    version: Version,
    exclusions: list[Exclusion],
    result: DryRunResult,
    selected: list[str],
) -> None:
    """Count the file's selected tests and check all their steps."""
    count = result.counts.setdefault(test_file.directory, DirCount())
    count.files += 1
    runnable = 0
    for case in test_file.tests:
        if case.name not in selected:
            continue
        count.tests += 1
        reason = static_skip_reason(test_file, case, version, exclusions)
        for exclusion in exclusions:
            if exclusion.pattern.search(test_file.exclusion_key(case.name)):
                result.used_exclusions.add(exclusion.pattern.pattern)
        if reason is not None:  # steps of skipped tests may use 7.x-only parameters: not checked
            count.skipped += 1
            key = reason_category(reason)
            result.skip_reasons[key] = result.skip_reasons.get(key, 0) + 1
            continue
        runnable += 1
        count.requests += _check_section(test_file, case.name, case.section, registry, result)
    if runnable:
        for section_name, section in (("setup", test_file.setup), ("teardown", test_file.teardown)):
            if section is not None:
                count.requests += _check_section(test_file, section_name, section, registry, result)


def _check_section(
    test_file: TestFile, name: str, section: Section, registry: SpecRegistry, result: DryRunResult
) -> int:
    stash = PlaceholderStash()
    requests = 0
    for step in section.steps:
        where = f"{test_file.test_id(name)}"
        if isinstance(step, DoStep):
            requests += 1
            problem = _check_do(step, registry, stash)
        elif isinstance(step, AssertStep):
            problem = _check_assert(step)
        else:
            problem = None
        if problem:
            result.problems.append(f"{where}: {problem}")
    return requests


def _check_do(step: DoStep, registry: SpecRegistry, stash: Stash) -> str | None:
    params = drop_doc_type(stash.replace(step.params))
    try:
        parse_ignore(params.pop("ignore", None))
    except ValueError:
        return f"bad ignore value in {step.params}"
    if step.catch is not None and step.catch not in NAMED_CATCHES and step.catch not in ("param", "request"):
        if not assertions.is_regex_literal(step.catch):
            return f"unsupported catch [{step.catch}]"
        try:
            assertions.compile_catch_regex(step.catch.strip())
        except Exception as error:  # noqa: BLE001 - report any compile problem
            return f"catch regex {step.catch!r} does not compile: {error}"
    try:
        registry.build_request(step.api, params, stash.replace(step.headers))
    except UnknownApiError as error:
        return str(error)
    except ClientParamError as error:
        return None if step.catch == "param" else f"request cannot be built: {error}"
    if step.catch == "param":
        return f"catch: param but [{step.api}] accepts {sorted(params)}"
    return None


def _check_assert(step: AssertStep) -> str | None:
    if step.op == "match" and assertions.is_regex_literal(step.expected):
        try:
            assertions.compile_match_regex(step.expected)
        except Exception as error:  # noqa: BLE001
            return f"match regex for [{step.path}] does not compile: {error}"
    return None
