"""Find test files, decide which tests are excluded before running, and load exclusion lists.

Static skip decisions live here (not in the executor) so ``--dry-run`` reports the same skips a real run
would, without a server: typed-API files (mapping types were removed in 8.0), file/test ``skip`` and
``requires`` blocks evaluated against the target version, and regex exclusion lists whose every pattern
must carry a reason.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass

from .model import TestCase, TestFile
from .skips import Version, requires_reason, skip_reason

TYPED_FILE_MARKERS = ("_with_types", "typeless_typeful")


class ExclusionFileError(Exception):
    """An exclusion list that cannot be used (bad regex, pattern without a reason)."""


@dataclass(frozen=True)
class Exclusion:
    pattern: re.Pattern[str]
    reason: str
    source: str  # file name the pattern came from


@dataclass(frozen=True)
class SuiteLayout:
    """Where a suite's tests and specs live and how its directories are named in reports."""

    name: str
    test_root: str
    spec_dir: str
    fallback_spec_dir: str
    dir_prefix: str  # "" for the 7.10.2 suite, "modern/" for the clients' 9.1 tests


def suite_layout(spec_root: str, suite: str) -> SuiteLayout:
    legacy_api = os.path.join(spec_root, "api")
    modern_api = os.path.join(spec_root, "modern", "api")
    if suite == "legacy":
        return SuiteLayout("legacy", os.path.join(spec_root, "test"), legacy_api, modern_api, "")
    if suite == "modern":
        return SuiteLayout("modern", os.path.join(spec_root, "modern", "test"), modern_api, legacy_api, "modern/")
    raise ValueError(f"unknown suite {suite!r} (legacy or modern)")


def discover_files(layout: SuiteLayout) -> dict[str, list[str]]:
    """API directory name -> sorted ``.yml`` paths.

    Legacy suite: one level, ``test/<api>/*.yml``. Modern suite: ``modern/test/<group>/<file>.yml`` is
    directory ``modern/<group>``; a top-level ``modern/test/get.yml`` is directory ``modern/get``.
    """
    by_dir: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(layout.test_root, "**", "*.yml"), recursive=True)):
        relative = os.path.relpath(path, layout.test_root)
        parent = os.path.dirname(relative)
        name = parent if parent else os.path.splitext(relative)[0]
        by_dir.setdefault(layout.dir_prefix + name, []).append(path)
    return by_dir


def select_dirs(all_dirs: list[str], patterns: list[str] | None) -> list[str]:
    """Directories matching any comma-given name or glob (``cat.*``); all when no pattern is given."""
    if not patterns:
        return sorted(all_dirs)
    chosen = {d for d in all_dirs for pattern in patterns if fnmatch.fnmatchcase(d, pattern)}
    return sorted(chosen)


def is_selected(test_file: TestFile, case: TestCase, test_filter: str | None) -> bool:
    """``--test`` filter: a glob over ``dir/file.yml/name`` or ``dir/file/name``; without glob
    characters it is a prefix of either form."""
    if not test_filter:
        return True
    candidates = (test_file.test_id(case.name), test_file.exclusion_key(case.name))
    if any(char in test_filter for char in "*?["):
        return any(fnmatch.fnmatchcase(candidate, test_filter) for candidate in candidates)
    return any(candidate.startswith(test_filter) for candidate in candidates)


def is_typed_file(file_name: str) -> bool:
    return any(marker in file_name for marker in TYPED_FILE_MARKERS)


def load_exclusions(path: str, require_reason: bool = True) -> list[Exclusion]:
    """One regex per line, matched with ``re.search`` against ``dir/file/test name``; the comment lines
    just above a pattern are its reason."""
    exclusions: list[Exclusion] = []
    comment: list[str] = []
    source = os.path.basename(path)
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                comment = []
                continue
            if line.startswith("#"):
                comment.append(line.lstrip("#").strip())
                continue
            if require_reason and not comment:
                raise ExclusionFileError(f"{path}:{number}: pattern without a reason comment above it: {line}")
            try:
                pattern = re.compile(line)
            except re.error as error:
                raise ExclusionFileError(f"{path}:{number}: invalid regex {line!r}: {error}") from error
            exclusions.append(Exclusion(pattern=pattern, reason=comment[-1] if comment else "", source=source))
    return exclusions


def matching_exclusion(key: str, exclusions: list[Exclusion]) -> Exclusion | None:
    for exclusion in exclusions:
        if exclusion.pattern.search(key):
            return exclusion
    return None


def static_skip_reason(
    test_file: TestFile, case: TestCase, version: Version, exclusions: list[Exclusion]
) -> str | None:
    """Why a test is skipped without being run, or None."""
    if is_typed_file(test_file.file_name):
        return "typed-API file (mapping types were removed in 8.0)"
    exclusion = matching_exclusion(test_file.exclusion_key(case.name), exclusions)
    if exclusion is not None:
        return f"excluded by {exclusion.source}: {exclusion.reason}"
    reason = requires_reason(test_file.requires)
    if reason is None and test_file.setup is not None:
        reason = skip_reason(test_file.setup.skip, version) or requires_reason(test_file.setup.requires)
    if reason is None:
        reason = skip_reason(case.section.skip, version) or requires_reason(case.section.requires)
    return reason
