"""Fixtures for running the official Elasticsearch Python client against tern.

Why this suite exists: the YAML suite checks the REST contract call by call; this one checks that the
client people actually use (elasticsearch-py 8.x and 9.x, with their product check, compatible-with media
types, helpers and error classes) works end to end against tern, with ES 8 semantics.

One tern process serves the whole session (``--ephemeral`` on a free port), or ``TERN_URL`` points at a
running one. Tests never share state: each gets unique index names through ``index_name`` /
``make_index_name``, and those indices are deleted afterwards.

Tests that need a feature tern does not have yet carry ``@pytest.mark.pending("feature")``: they run for
real and are reported as xfail while they fail, XPASS once the feature lands (then drop the marker).
Set ``TERN_PENDING_STRICT=1`` to turn an XPASS into a failure.

Regression gate (``--expected-pass FILE``, used by tests/run-all.sh): tests listed in FILE must pass; the
others still run but count as xfail ("not passing yet") while tern is incomplete, so CI stays a gate on
what already works. ``--write-expected-pass FILE`` records the tests that passed in this run.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BINARIES = ("target/release/tern", "target/debug/tern")
_PASSED_IDS: set[str] = set()  # filled as tests pass, for --write-expected-pass

# The process launcher is shared with the YAML runner (tests/yaml/esyaml/server.py) so that the one place
# that knows how tern starts and says "started" serves both suites.
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "yaml"))
from esyaml.server import ServerStartError, TernServer  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tern")
    group.addoption("--expected-pass", metavar="FILE", help="tests listed here must pass; others may fail (xfail)")
    group.addoption("--write-expected-pass", metavar="FILE", help="write the node ids of the tests that passed")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pending(feature): needs a tern feature that does not exist yet; xfail until it does"
    )


def _read_expected(path: str) -> set[str]:
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as handle:
        return {line.strip() for line in handle if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    strict = os.environ.get("TERN_PENDING_STRICT") == "1"
    expected_file = config.getoption("--expected-pass")
    expected = _read_expected(expected_file) if expected_file else None
    for item in items:
        if expected is not None and item.nodeid in expected:
            continue  # a test that once passed must pass: no pending/xfail escape
        marker = item.get_closest_marker("pending")
        if marker is not None:
            feature = marker.args[0] if marker.args else "an unimplemented feature"
            item.add_marker(pytest.mark.xfail(reason=f"pending: needs {feature}", strict=strict))
        elif expected is not None:
            item.add_marker(pytest.mark.xfail(reason=f"not yet in {os.path.basename(expected_file)}", strict=False))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:  # includes XPASS of not-yet-expected tests
        _PASSED_IDS.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--write-expected-pass")
    if path:
        passed = sorted(_PASSED_IDS)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("# Client tests tern passes (pytest node ids): the regression gate, see conftest.py.\n")
            handle.writelines(f"{node_id}\n" for node_id in passed)


def find_binary() -> str:
    explicit = os.environ.get("TERN_BIN")
    if explicit:
        return explicit
    for relative in DEFAULT_BINARIES:
        candidate = os.path.join(REPO_ROOT, relative)
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.exit(f"no tern binary: set TERN_BIN or TERN_URL, or build one of {DEFAULT_BINARIES}", returncode=4)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def tern_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the tern under test (started here unless ``TERN_URL`` is set)."""
    url = os.environ.get("TERN_URL")
    if url:
        yield url
        return
    log_path = os.environ.get("TERN_LOG") or str(tmp_path_factory.mktemp("tern") / "tern.log")
    server = TernServer(find_binary(), log_path=log_path)
    try:
        server.start(timeout=30.0)
    except ServerStartError as error:
        pytest.exit(f"tern did not start: {error}", returncode=4)
    try:
        yield server.url
    finally:
        server.stop()
        if not os.environ.get("TERN_URL"):
            print(f"\ntern log: {log_path}", file=sys.stderr)


@pytest.fixture(scope="session")
def es(tern_url: str) -> Iterator[Elasticsearch]:
    """An Elasticsearch client for the session (no retries: a failure must show as a failure)."""
    client = Elasticsearch(tern_url, request_timeout=60, max_retries=0, retry_on_timeout=False)
    try:
        yield client
    finally:
        client.close()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


@pytest.fixture()
def make_index_name(request: pytest.FixtureRequest, es: Elasticsearch) -> Iterator[Callable[[str], str]]:
    """A factory of unique, valid index names for this test; the indices are deleted afterwards."""
    created: list[str] = []

    def make(suffix: str = "") -> str:
        name = "-".join(part for part in ("py", _slug(request.node.name), _slug(suffix), uuid.uuid4().hex[:8]) if part)
        created.append(name)
        return name

    yield make
    for name in created:
        es.options(ignore_status=[404, 400]).indices.delete(index=name)


@pytest.fixture()
def index_name(make_index_name: Callable[[str], str]) -> str:
    """One unique index name for this test (the index itself is not created)."""
    return make_index_name("")


@pytest.fixture()
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Unique names for non-index resources (templates, aliases); the test cleans those up itself."""

    def make(kind: str) -> str:
        return f"py-{kind}-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"

    return make
