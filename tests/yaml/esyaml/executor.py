"""Run tests: setup, body and teardown steps, then wipe the cluster.

Per test, as in Elasticsearch's runner: clear the stash, run the file's setup, the test's steps, the file's
teardown (even after a failure), then delete all indices/templates/settings. The first failing step ends
the test; a teardown failure fails an otherwise passing test. Results carry the last request and
response so ``-v`` can show exactly what the server said.

ES 8 adaptations: ``type: _doc`` parameters are dropped (the typeless endpoint is the same URL) and
assertions on ``_type`` are ignored, since mapping types were removed in 8.0.
"""

from __future__ import annotations

import base64
import enum
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import assertions
from .assertions import AssertionFailure
from .cluster import ClusterWiper
from .discovery import Exclusion, static_skip_reason
from .model import AssertStep, DoStep, SetStep, Step, TestCase, TestFile, TransformAndSetStep
from .objectpath import evaluate, split_path
from .skips import Version
from .spec import ClientParamError, HttpRequest, SpecRegistry, UnknownApiError
from .stash import Stash, StashError
from .transport import HttpResponse, HttpTransport, TransportError

# `catch` values with the status they stand for (`request` is any other 4xx/5xx).
NAMED_CATCHES: dict[str, int] = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "missing": 404,
    "request_timeout": 408,
    "conflict": 409,
    "unavailable": 503,
}
_BASE64_CREDENTIALS = re.compile(r"#base64EncodeCredentials\((\w+),(\w+)\)")


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    test_id: str
    directory: str
    file_name: str
    name: str
    status: Status
    reason: str = ""
    details: str = ""
    duration: float = 0.0


class StepFailure(Exception):
    """A step that failed; the message is the one-line reason."""


class ServerUnreachable(Exception):
    """The server stopped answering (crashed or hung); the run decides whether to restart it."""


@dataclass
class LastExchange:
    """The last request/response of a test, kept for the stash (``$body``) and failure reports."""

    request: HttpRequest | None = None
    response: HttpResponse | None = None
    is_json: bool = False
    body: Any = None


def drop_doc_type(params: dict[str, Any]) -> dict[str, Any]:
    """``type: _doc`` names the typeless endpoint in 7.x tests; ES 8 has no types, so drop it."""
    if params.get("type") == "_doc":
        return {key: value for key, value in params.items() if key != "type"}
    return params


def strip_type_keys(value: Any) -> Any:
    """Expected values without ``_type`` keys (never present in ES 8 responses)."""
    if isinstance(value, dict):
        return {key: strip_type_keys(item) for key, item in value.items() if key != "_type"}
    if isinstance(value, list):
        return [strip_type_keys(item) for item in value]
    return value


def parse_ignore(value: Any) -> set[int]:
    """The client-side ``ignore`` parameter: statuses that do not count as errors."""
    if value is None:
        return set()
    items = value if isinstance(value, list) else str(value).split(",")
    return {int(item) for item in items}


def describe_step(step: Step) -> str:
    if isinstance(step, DoStep):
        catch = f" (catch: {step.catch})" if step.catch else ""
        return f"do {step.api} {json.dumps(step.params, default=str)[:500]}{catch}"
    if isinstance(step, AssertStep):
        if step.op in ("is_true", "is_false"):
            return f"{step.op}: {step.path!r}"
        return f"{step.op}: {{{step.path}: {json.dumps(step.expected, default=str)[:500]}}}"
    if isinstance(step, SetStep):
        return f"set: {{{step.path}: {step.name}}}"
    return f"transform_and_set: {{{step.name}: {step.expression}}}"


class TestExecutor:
    """Runs the tests of parsed files against one server."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        registry: SpecRegistry,
        transport: HttpTransport,
        es_version: Version,
        exclusions: list[Exclusion],
        server_alive: Callable[[], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.es_version = es_version
        self.exclusions = exclusions
        self.server_alive = server_alive
        self.stash = Stash()
        self.last = LastExchange()
        self.wipe_problems: list[str] = []
        self.attach(transport)

    def attach(self, transport: HttpTransport) -> None:
        """Point at a (re)started server."""
        self.transport = transport
        self.wiper = ClusterWiper(transport)

    # ----------------------------------------------------------------- tests

    def skip_reason(self, test_file: TestFile, case: TestCase) -> str | None:
        return static_skip_reason(test_file, case, self.es_version, self.exclusions)

    def run_test(self, test_file: TestFile, case: TestCase) -> TestResult:
        """Run one test (raises ServerUnreachable when the server is gone)."""
        result = TestResult(
            test_id=test_file.test_id(case.name),
            directory=test_file.directory,
            file_name=test_file.file_name,
            name=case.name,
            status=Status.PASS,
        )
        reason = self.skip_reason(test_file, case)
        if reason is not None:
            result.status, result.reason = Status.SKIP, reason
            return result
        started = time.monotonic()
        self.stash.clear()
        self.last = LastExchange()
        failure = self._run_phases(test_file, case)
        result.duration = time.monotonic() - started
        if failure is not None:
            phase, step, message = failure
            result.status = Status.FAIL
            result.reason = f"[{phase}] {message}"
            result.details = self._failure_details(phase, step, message)
        self.wipe()
        return result

    def _run_phases(self, test_file: TestFile, case: TestCase) -> tuple[str, Step | None, str] | None:
        failure: tuple[str, Step | None, str] | None = None
        phases = [("setup", test_file.setup.steps if test_file.setup else []), ("test", case.section.steps)]
        for phase, steps in phases:
            failure = self._run_steps(phase, steps)
            if failure is not None:
                break
        teardown_failure = self._run_steps("teardown", test_file.teardown.steps if test_file.teardown else [])
        return failure or teardown_failure

    def _run_steps(self, phase: str, steps: list[Step]) -> tuple[str, Step | None, str] | None:
        for step in steps:
            try:
                self.run_step(step)
            except ServerUnreachable:
                raise
            except (StepFailure, AssertionFailure, StashError, LookupError) as error:
                return phase, step, str(error)
            except Exception as error:  # noqa: BLE001 - one odd test must not abort the whole run
                return phase, step, f"runner error {type(error).__name__}: {error}"
        return None

    def wipe(self) -> None:
        try:
            problems = self.wiper.wipe()
        except TransportError as error:
            self._raise_if_server_gone(error)
            problems = [str(error)]
        self.wipe_problems.extend(problems)

    def _failure_details(self, phase: str, step: Step | None, message: str) -> str:
        lines = [f"phase: {phase}", f"step: {describe_step(step) if step else '-'}", f"failure: {message}"]
        if self.last.request is not None:
            lines.append("request: " + self.last.request.describe())
        if self.last.response is not None:
            lines.append("response: " + self.last.response.describe())
        return "\n".join(lines)

    # ----------------------------------------------------------------- steps

    def run_step(self, step: Step) -> None:
        if isinstance(step, DoStep):
            self.run_do(step)
        elif isinstance(step, AssertStep):
            self.run_assert(step)
        elif isinstance(step, SetStep):
            self.stash.put(step.name, self.actual_value(step.path))
        elif isinstance(step, TransformAndSetStep):
            self.stash.put(step.name, self._transform(step.expression))
        else:  # pragma: no cover - the parser produces only the types above
            raise StepFailure(f"unknown step {step!r}")

    def run_do(self, step: DoStep) -> None:
        params = drop_doc_type(self.stash.replace(step.params))
        headers = self.stash.replace(step.headers)
        ignore = parse_ignore(params.pop("ignore", None))
        try:
            request = self.registry.build_request(step.api, params, headers)
        except ClientParamError as error:
            if step.catch == "param":
                return
            raise StepFailure(f"client-side error: {error}") from error
        except UnknownApiError as error:
            raise StepFailure(str(error)) from error
        if step.catch == "param":
            raise StepFailure(f"expected a client-side parameter error, but [{step.api}] accepts {params}")
        try:
            response = self.transport.send(request)
        except TransportError as error:
            self._raise_if_server_gone(error)
            raise StepFailure(str(error)) from error
        self._record(request, response)
        self._check_status(step, request, response, ignore)

    def _raise_if_server_gone(self, error: TransportError) -> None:
        """A crashed or hung server is the run's problem (restart), not just this step's."""
        if error.timed_out:
            raise ServerUnreachable(f"server hung: {error}") from error
        if self.server_alive is not None and not self.server_alive():
            raise ServerUnreachable(str(error)) from error

    def _record(self, request: HttpRequest, response: HttpResponse) -> None:
        is_json, body = response.parsed()
        self.last = LastExchange(request=request, response=response, is_json=is_json, body=body)
        self.stash.put("body", body)

    def _check_status(self, step: DoStep, request: HttpRequest, response: HttpResponse, ignore: set[int]) -> None:
        if request.method == "HEAD":
            ignore = ignore | {404}  # the Java client treats HEAD 404 as an answer, not an error
        is_error = response.status >= 400 and response.status not in ignore
        catch = step.catch
        if catch is None:
            if is_error:
                raise StepFailure(f"unexpected status {response.status} from {request.method} {request.path}")
            return
        if not is_error:
            raise StepFailure(f"expected an error (catch: {catch}) but got status {response.status}")
        if catch in NAMED_CATCHES:
            if response.status != NAMED_CATCHES[catch]:
                raise StepFailure(f"catch: {catch} expects status {NAMED_CATCHES[catch]}, got {response.status}")
        elif catch == "request":
            if response.status in NAMED_CATCHES.values() and response.status != 503:
                raise StepFailure(f"catch: request expects an unnamed 4xx/5xx status, got {response.status}")
        elif assertions.is_regex_literal(catch):
            self._check_error_regex(catch.strip(), response)
        else:
            raise StepFailure(f"unsupported catch value [{catch}]")

    def _check_error_regex(self, catch: str, response: HttpResponse) -> None:
        error = self.last.body.get("error") if self.last.is_json and isinstance(self.last.body, dict) else None
        if error is None:
            raise StepFailure(f"catch: {catch} expects an `error` in the response body")
        pattern = assertions.compile_catch_regex(catch)
        texts = (assertions.java_text(error), json.dumps(error, ensure_ascii=False))
        if not any(pattern.search(text) for text in texts):
            raise StepFailure(f"error does not match {catch}: {assertions.describe(error)}")

    # ----------------------------------------------------------------- values

    def actual_value(self, path: str) -> Any:
        """A value of the last response (``$name`` paths read the stash, ``$body`` the whole body)."""
        if path.startswith("$"):
            return self.stash.resolve_text(path)
        if self.last.response is None:
            return None
        if not self.last.is_json:
            if path == "" and self.last.response.method == "HEAD":
                return self.last.response.status < 400
            return None
        return evaluate(self.last.body, path, self.stash.resolve_text)

    def run_assert(self, step: AssertStep) -> None:
        segments = split_path(step.path)
        if segments and segments[-1] == "_type":
            return  # mapping types were removed in 8.0
        actual = self.actual_value(step.path)
        if step.op == "is_true":
            assertions.assert_is_true(step.path, actual)
            return
        if step.op == "is_false":
            assertions.assert_is_false(step.path, actual)
            return
        expected = strip_type_keys(self.stash.replace(step.expected))
        if step.op == "match":
            assertions.assert_match(step.path, expected, actual)
        elif step.op == "length":
            assertions.assert_length(step.path, expected, actual)
        elif step.op in ("gt", "gte", "lt", "lte"):
            assertions.assert_compare(step.op, step.path, expected, actual)
        elif step.op == "contains":
            assertions.assert_contains(step.path, expected, actual)
        elif step.op == "close_to":
            assertions.assert_close_to(step.path, expected, actual)
        else:  # pragma: no cover - the parser produces only the ops above
            raise StepFailure(f"unknown assertion {step.op}")

    def _transform(self, expression: str) -> Any:
        found = _BASE64_CREDENTIALS.fullmatch(expression.strip())
        if found is None:
            return self.actual_value(expression)
        user, password = (self.actual_value(found.group(1)), self.actual_value(found.group(2)))
        return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
