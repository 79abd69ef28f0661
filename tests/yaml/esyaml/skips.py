"""Decide whether a section is skipped: version ranges, runner features, ``requires`` blocks.

Semantics follow the Java runner's SkipSection: a section is skipped when the target version lies in any
listed range (``"all"`` covers every version; an empty bound is open) *or* when it needs a runner feature
this runner lacks. tern reports an 8.x version, so 7.x-era ranges such as ``"7.4.0 - "`` skip on it.
"""

from __future__ import annotations

import re

from .model import Requires, Skip

Version = tuple[int, int, int]

# Runner features this runner implements (or, for warnings/node_selector, deliberately ignores because
# tern is a single node and warning headers are not part of the conformance target).
SUPPORTED_FEATURES = frozenset(
    {
        "headers",
        "warnings",
        "warnings_regex",
        "allowed_warnings",
        "allowed_warnings_regex",
        "contains",
        "stash_in_path",
        "stash_in_key",
        "default_shards",
        "node_selector",
        "arbitrary_key",
        "catch_unauthorized",
        "transform_and_set",
        "no_xpack",  # tern ships no x-pack features
    }
)

MAX_VERSION: Version = (999, 999, 999)
_VERSION_NUMBERS = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: str) -> Version:
    """``"8.15.0-SNAPSHOT"`` -> (8, 15, 0); missing minor/patch count as 0."""
    found = _VERSION_NUMBERS.search(text)
    if not found:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = found.groups()
    return int(major), int(minor or 0), int(patch or 0)


def version_in_ranges(spec: str, current: Version) -> bool:
    """True when ``current`` lies in one of the comma-separated ranges of ``spec``."""
    for raw_range in spec.split(","):
        text = raw_range.strip()
        if not text:
            continue
        if text.lower() == "all":
            return True
        if "-" not in text:
            if parse_version(text) == current:
                return True
            continue
        low_text, high_text = (part.strip() for part in text.split("-", 1))
        low = parse_version(low_text) if low_text else (0, 0, 0)
        high = parse_version(high_text) if high_text else MAX_VERSION
        if low <= current <= high:
            return True
    return False


def skip_reason(skip: Skip | None, current: Version) -> str | None:
    """Why a ``skip`` block skips on ``current``, or None when the section runs."""
    if skip is None:
        return None
    if skip.version is not None and version_in_ranges(skip.version, current):
        return f"skip version [{skip.version}]: {skip.reason}".rstrip(": ")
    missing = [feature for feature in skip.features if feature not in SUPPORTED_FEATURES]
    if missing:
        return f"unsupported runner feature(s) {missing}"
    blocking = [key for key in skip.other_keys if key in {"awaits_fix", "known_issues", "cluster_features"}]
    if blocking:
        return f"skip on {blocking}: {skip.reason}".rstrip(": ")
    return None


def requires_reason(requires: Requires | None) -> str | None:
    """Why a ``requires`` block rules tern out, or None. tern is a "stack" (non-serverless) target."""
    if requires is None:
        return None
    if requires.stack is False:
        return "requires a serverless target (stack: false)"
    missing = [feature for feature in requires.features if feature not in SUPPORTED_FEATURES]
    if missing:
        return f"unsupported runner feature(s) {missing}"
    if requires.cluster_features:
        return f"requires cluster features {list(requires.cluster_features)}"
    return None
