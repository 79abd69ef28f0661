#!/usr/bin/env python3
"""Run the official Elasticsearch YAML REST tests against tern.

Why: the YAML suite is the closest thing to an executable definition of the ES REST API. Running it gives a
per-API pass rate (where tern stands) and, with ``--expected``, a regression gate for CI: a test that once
passed must keep passing.

Usage (from the repository root):

    tests/yaml/runner.py --dry-run                       # parse and check everything, no server
    tests/yaml/runner.py --binary target/debug/tern      # start tern on a free port, run, stop it
    tests/yaml/runner.py --url http://127.0.0.1:9200 --dirs 'indices.*,cat.*' -v
    tests/yaml/runner.py --binary target/release/tern --expected tests/yaml/expected-pass.txt
    tests/yaml/runner.py --binary target/release/tern --write-expected tests/yaml/expected-pass.txt

Exit status: 0 success; 1 test failures (or, with ``--expected``, regressions only; for ``--dry-run``,
steps whose request cannot be built); 2 the run itself failed (server did not start or became
unreachable, unparsable files, bad arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from esyaml import discovery, dryrun, report  # noqa: E402
from esyaml.discovery import Exclusion, SuiteLayout  # noqa: E402
from esyaml.executor import ServerUnreachable, Status, TestExecutor, TestResult  # noqa: E402
from esyaml.model import TestFile  # noqa: E402
from esyaml.parse import ParseError, parse_file  # noqa: E402
from esyaml.server import ServerStartError, TernServer  # noqa: E402
from esyaml.skips import Version, parse_version  # noqa: E402
from esyaml.spec import SpecRegistry  # noqa: E402
from esyaml.transport import HttpTransport, TransportError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
# The project's shared/ directory sits beside the checkout (in CI too).
SPEC_ROOT_CANDIDATES = (
    os.path.join(HERE, "rest-api-spec"),
    os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "es-rest-api-spec")),
)
PROJECT_EXCLUSIONS = os.path.join(HERE, "tern-exclusions.txt")
DEFAULT_ES_VERSION = "8.15.0"  # when the server cannot be asked (dry runs, a GET / that fails)
EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2


class RunError(Exception):
    """The run cannot proceed (exit status 2)."""


# --------------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_argument_group("target")
    target.add_argument("--url", help="run against a running server (default $TERN_URL or http://127.0.0.1:9200)")
    target.add_argument("--binary", help="start this tern binary with --ephemeral on a free port, run, stop it")
    target.add_argument("--server-arg", action="append", default=[], help="extra argument for --binary (repeatable)")
    target.add_argument("--server-log", help="where --binary output goes (default: a temporary file)")
    target.add_argument("--startup-timeout", type=float, default=30.0, help='seconds to wait for "started"')
    target.add_argument("--max-restarts", type=int, default=5, help="restarts of a crashed --binary server")
    target.add_argument("--request-timeout", type=float, default=60.0, help="seconds per HTTP request")
    target.add_argument("--es-version", help="version for skip ranges (default: asked from GET /)")

    selection = parser.add_argument_group("selection")
    selection.add_argument("--spec-root", help="es-rest-api-spec directory (default $ES_REST_API_SPEC or known places)")
    selection.add_argument(
        "--suite", default="legacy", help="legacy (7.10.2 suite), modern (clients' 9.1 tests) or legacy,modern"
    )
    selection.add_argument("--dirs", help="comma-separated API directories or globs, e.g. 'bulk,indices.*'")
    selection.add_argument("--test", help="glob or prefix over 'dir/file.yml/test name'")
    selection.add_argument("--exclude-file", action="append", default=[], help="more exclusion lists (repeatable)")

    output = parser.add_argument_group("output")
    output.add_argument("--dry-run", action="store_true", help="parse and check every test, count per dir, no server")
    output.add_argument(
        "-v", "--verbose", action="store_true", help="print request, response and assertion of failures"
    )
    output.add_argument("-q", "--quiet", action="store_true", help="no per-failure lines, summary only")
    output.add_argument("--write-expected", metavar="FILE", help="write the ids of passing tests")
    output.add_argument("--expected", metavar="FILE", help="fail (exit 1) only if a test listed there does not pass")
    output.add_argument("--report", metavar="FILE", help="write all results as JSON")
    args = parser.parse_args(argv)
    if args.url and args.binary:
        parser.error("--url and --binary are exclusive")
    return args


def resolve_spec_root(explicit: str | None) -> str:
    candidates = [explicit] if explicit else [os.environ.get("ES_REST_API_SPEC"), *SPEC_ROOT_CANDIDATES]
    for candidate in candidates:
        if candidate and os.path.isdir(os.path.join(candidate, "api")):
            return candidate
    raise RunError(f"no es-rest-api-spec directory found (tried {[c for c in candidates if c]}); use --spec-root")


def load_all_exclusions(spec_root: str, extra_files: list[str]) -> list[Exclusion]:
    files = [os.path.join(spec_root, "es8-incompatible.txt"), PROJECT_EXCLUSIONS, *extra_files]
    exclusions: list[Exclusion] = []
    for path in files:
        if os.path.exists(path):
            exclusions.extend(discovery.load_exclusions(path))
        elif path in extra_files:
            raise RunError(f"exclusion file {path} does not exist")
    return exclusions


# --------------------------------------------------------------------------------------------- loading


@dataclass
class SuiteWork:
    layout: SuiteLayout
    registry: SpecRegistry
    files: list[TestFile]
    parse_errors: list[str]


def load_suites(args: argparse.Namespace, spec_root: str) -> list[SuiteWork]:
    patterns = [p.strip() for p in args.dirs.split(",") if p.strip()] if args.dirs else None
    work: list[SuiteWork] = []
    for suite in [s.strip() for s in args.suite.split(",") if s.strip()]:
        layout = discovery.suite_layout(spec_root, suite)
        by_dir = discovery.discover_files(layout)
        files: list[TestFile] = []
        errors: list[str] = []
        for directory in discovery.select_dirs(list(by_dir), patterns):
            for path in by_dir[directory]:
                try:
                    files.append(parse_file(path, directory))
                except ParseError as error:
                    errors.append(str(error))
        registry = SpecRegistry(layout.spec_dir, layout.fallback_spec_dir)
        work.append(SuiteWork(layout=layout, registry=registry, files=files, parse_errors=errors))
    if not any(suite.files or suite.parse_errors for suite in work):
        raise RunError(f"no test files match --suite {args.suite} --dirs {args.dirs}")
    return work


def selected_names(test_file: TestFile, test_filter: str | None) -> list[str]:
    return [case.name for case in test_file.tests if discovery.is_selected(test_file, case, test_filter)]


# --------------------------------------------------------------------------------------------- dry run


def run_dry(args: argparse.Namespace, suites: list[SuiteWork], exclusions: list[Exclusion], out: TextIO) -> int:
    version = parse_version(args.es_version or DEFAULT_ES_VERSION)
    result = dryrun.DryRunResult()
    for suite in suites:
        for test_file in suite.files:
            names = selected_names(test_file, args.test)
            dryrun.check_file(test_file, suite.registry, version, exclusions, result, names)
    width = max((len(name) for name in result.counts), default=10)
    print(f"dry run against version {'.'.join(map(str, version))}: tests per directory", file=out)
    for directory, count in sorted(result.counts.items()):
        print(
            f"{directory + ':':<{width + 1}} {count.tests:4d} tests in {count.files:2d} files, "
            f"{count.runnable:4d} to run, {count.skipped:4d} skipped, {count.requests:5d} requests built",
            file=out,
        )
    tests = sum(c.tests for c in result.counts.values())
    skipped = sum(c.skipped for c in result.counts.values())
    print(f"{'TOTAL:':<{width + 1}} {tests:4d} tests, {tests - skipped} to run, {skipped} skipped", file=out)
    print("skip reasons:", file=out)
    for reason, number in sorted(result.skip_reasons.items(), key=lambda item: -item[1]):
        print(f"  {number:4d}  {reason}", file=out)
    parse_errors = [error for suite in suites for error in suite.parse_errors]
    for error in parse_errors:
        print(f"PARSE ERROR {error}", file=out)
    for problem in result.problems:
        print(f"PROBLEM {problem}", file=out)
    if not args.dirs and not args.test:
        for pattern in unused_exclusions(exclusions, result.used_exclusions, [s.layout for s in suites]):
            print(f"WARNING exclusion matches no test: {pattern}", file=out)
    print(f"{len(parse_errors)} parse errors, {len(result.problems)} step problems", file=out)
    if parse_errors:
        return EXIT_ERROR
    return EXIT_FAILURES if result.problems else EXIT_OK


def unused_exclusions(exclusions: list[Exclusion], used: set[str], layouts: list[SuiteLayout]) -> list[str]:
    """Patterns of the suites that ran which matched no test (stale entries)."""
    ran_modern = any(layout.dir_prefix for layout in layouts)
    ran_legacy = any(not layout.dir_prefix for layout in layouts)
    stale = []
    for exclusion in exclusions:
        pattern = exclusion.pattern.pattern
        targets_modern = "modern/" in pattern
        if pattern not in used and (ran_modern if targets_modern else ran_legacy):
            stale.append(pattern)
    return stale


# --------------------------------------------------------------------------------------------- real run


class Target:
    """The server under test: a given URL, or a binary this run starts (and restarts after crashes)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server: TernServer | None = None
        self.restarts = 0
        if args.binary:
            log_path = args.server_log or os.path.join(tempfile.gettempdir(), f"tern-yaml-{os.getpid()}.log")
            self.server = TernServer(args.binary, args.server_arg, log_path)

    def start(self) -> HttpTransport:
        if self.server is None:
            url = self.args.url or os.environ.get("TERN_URL") or "http://127.0.0.1:9200"
            return HttpTransport(url, self.args.request_timeout)
        self.server.start(self.args.startup_timeout)
        return HttpTransport(self.server.url, self.args.request_timeout)

    def alive_probe(self, transport: HttpTransport) -> Callable[[], bool]:
        if self.server is not None:
            return self.server.alive
        return lambda: _answers(transport)

    def restart(self) -> HttpTransport:
        if self.server is None or self.restarts >= self.args.max_restarts:
            raise RunError(
                "the server is unreachable" + ("" if self.server is None else f" after {self.restarts} restarts")
            )
        self.restarts += 1
        self.server.stop()
        return self.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _answers(transport: HttpTransport) -> bool:
    try:
        transport.call("GET", "/")
        return True
    except TransportError:
        return False


def server_version(transport: HttpTransport, out: TextIO) -> Version:
    """The version skip ranges are evaluated against: the server's ``version.number``."""
    response = transport.call("GET", "/")
    is_json, body = response.parsed()
    number = body.get("version", {}).get("number") if is_json and isinstance(body, dict) else None
    if response.status != 200 or not isinstance(number, str):
        print(
            f"WARNING GET / reported no version.number (status {response.status}); assuming {DEFAULT_ES_VERSION}",
            file=out,
        )
        number = DEFAULT_ES_VERSION
    return parse_version(number)


class Run:
    """One test run over all selected suites, files and tests."""

    def __init__(self, args: argparse.Namespace, exclusions: list[Exclusion], out: TextIO) -> None:
        self.args = args
        self.exclusions = exclusions
        self.out = out
        self.target = Target(args)
        self.results: list[TestResult] = []
        self.wipe_problems: list[str] = []

    def execute(self, suites: list[SuiteWork]) -> None:
        try:
            transport = self.target.start()
        except ServerStartError as error:
            raise RunError(str(error)) from error
        try:
            version = (
                parse_version(self.args.es_version) if self.args.es_version else server_version(transport, self.out)
            )
            print(f"target {transport.base_url}, version {'.'.join(map(str, version))}", file=self.out)
            for suite in suites:
                executor = TestExecutor(
                    suite.registry, transport, version, self.exclusions, self.target.alive_probe(transport)
                )
                executor.wipe()
                self._record_parse_errors(suite)
                for test_file in suite.files:
                    transport = self._run_file(executor, test_file, transport)
                self.wipe_problems.extend(executor.wipe_problems)
        except (TransportError, ServerUnreachable) as error:
            raise RunError(f"server unreachable: {error}") from error
        finally:
            self.target.stop()

    def _record_parse_errors(self, suite: SuiteWork) -> None:
        for error in suite.parse_errors:
            path = error.split(":", 1)[0]
            directory = os.path.basename(os.path.dirname(path))
            name = os.path.basename(path)
            self._add(TestResult(f"{directory}/{name}/<parse>", directory, name, "<parse>", Status.FAIL, error))

    def _run_file(self, executor: TestExecutor, test_file: TestFile, transport: HttpTransport) -> HttpTransport:
        for case in test_file.tests:
            if not discovery.is_selected(test_file, case, self.args.test):
                continue
            try:
                self._add(executor.run_test(test_file, case))
            except ServerUnreachable as error:
                self._add(self._crash_result(test_file, case.name, error))
                transport = self.target.restart()
                executor.attach(transport)
                executor.server_alive = self.target.alive_probe(transport)
                executor.wipe()
        return transport

    def _crash_result(self, test_file: TestFile, name: str, error: Exception) -> TestResult:
        server = self.target.server
        details = f"server unreachable: {error}"
        if server is not None:
            details += f"\nexit code: {server.exit_code()}\nlast server output:\n{server.tail()}"
        return TestResult(
            test_file.test_id(name),
            test_file.directory,
            test_file.file_name,
            name,
            Status.FAIL,
            "server crashed or hung",
            details,
        )

    def _add(self, result: TestResult) -> None:
        self.results.append(result)
        if result.status is Status.FAIL and not self.args.quiet:
            print(f"FAIL {result.test_id}: {result.reason}", file=self.out)
            if self.args.verbose and result.details:
                print("    " + result.details.replace("\n", "\n    "), file=self.out)


def finish(args: argparse.Namespace, run: Run, suites: list[SuiteWork], out: TextIO) -> int:
    results = run.results
    if run.wipe_problems:
        print(f"WARNING {len(run.wipe_problems)} problems wiping the cluster, first: {run.wipe_problems[0]}", file=out)
    if args.report:
        meta = {"suite": args.suite, "dirs": args.dirs, "test": args.test, "restarts": run.target.restarts}
        report.write_json_report(args.report, results, meta)
    if args.write_expected:
        written = report.write_expected(args.write_expected, results)
        print(f"wrote {written} passing test ids to {args.write_expected}", file=out)
    exit_code = EXIT_FAILURES if any(r.status is Status.FAIL for r in results) else EXIT_OK
    if args.expected:
        known = {f.test_id(case.name) for suite in suites for f in suite.files for case in f.tests}
        gate = report.check_expected(report.read_id_list(args.expected), results, known)
        for result in gate.regressions:
            print(f"REGRESSION {result.test_id}: {result.status.value} {result.reason}", file=out)
        if gate.unknown_ids and not args.dirs and not args.test:
            print(
                f"WARNING {len(gate.unknown_ids)} ids in {args.expected} name no known test, e.g. {gate.unknown_ids[0]}",
                file=out,
            )
        if gate.newly_passing:
            print(
                f"{len(gate.newly_passing)} passing tests are not in {args.expected} (refresh it with --write-expected)",
                file=out,
            )
        print(f"regression gate: {len(gate.regressions)} regressions", file=out)
        exit_code = EXIT_FAILURES if gate.regressions else EXIT_OK
    report.print_summary(results, out)
    return exit_code


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    try:
        spec_root = resolve_spec_root(args.spec_root)
        exclusions = load_all_exclusions(spec_root, args.exclude_file)
        suites = load_suites(args, spec_root)
        if args.dry_run:
            return run_dry(args, suites, exclusions, out)
        run = Run(args, exclusions, out)
        aborted: RunError | None = None
        try:
            run.execute(suites)
        except RunError as error:
            aborted = error  # report what ran so far, then fail the run
        code = finish(args, run, suites, out)
        print(f"# {time.monotonic() - started:.1f}s", file=sys.stderr)
        if aborted is not None:
            print(f"error: run aborted: {aborted}", file=sys.stderr)
            return EXIT_ERROR
        return code
    except (RunError, discovery.ExclusionFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
