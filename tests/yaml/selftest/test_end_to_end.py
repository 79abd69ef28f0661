"""End-to-end runs of ``runner.py`` against a stub server: output format, gate, report, --binary mode."""

from __future__ import annotations

import io
import json
import os
import stat
import sys

import pytest
import runner
from esyaml.server import free_port
from stub_es import serve

SPEC_ROOT = os.environ.get("ES_REST_API_SPEC", "/work/shared/es-rest-api-spec")
pytestmark = pytest.mark.skipif(not os.path.isdir(SPEC_ROOT), reason="es-rest-api-spec not available")
STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub_es.py")


@pytest.fixture()
def stub_url():
    server = serve(free_port())
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = runner.main(["--spec-root", SPEC_ROOT, *args], out=out)
    return code, out.getvalue()


def test_passing_run_prints_rates_and_closing_line(stub_url: str, tmp_path) -> None:
    expected = tmp_path / "expected.txt"
    report_file = tmp_path / "report.json"
    code, out = run(
        "--url", stub_url, "--dirs", "info,ping", "--write-expected", str(expected), "--report", str(report_file)
    )
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[-1] == "3 passed, 0 failed, 0 skipped"
    assert "info:  2/2 (100.0%)" in out
    assert "ping:  1/1 (100.0%)" in out
    ids = [line for line in expected.read_text().splitlines() if not line.startswith("#")]
    assert ids == ["info/10_info.yml/Info", "info/20_lucene_version.yml/Lucene Version", "ping/10_ping.yml/Ping"]
    document = json.loads(report_file.read_text())
    assert document["summary"] == {"passed": 3, "failed": 0, "skipped": 0}


def test_failures_and_the_regression_gate(stub_url: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STUB_NO_LUCENE", "1")
    code, out = run("--url", stub_url, "--dirs", "info", "-v")
    assert code == 1
    assert "FAIL info/20_lucene_version.yml/Lucene Version" in out
    assert "request: GET /" in out  # -v shows the exchange
    assert out.strip().splitlines()[-1] == "1 passed, 1 failed, 0 skipped"

    expected = tmp_path / "expected.txt"
    expected.write_text("info/10_info.yml/Info\n")
    code, out = run("--url", stub_url, "--dirs", "info", "--expected", str(expected))
    assert code == 0, "a failure not listed as expected-pass is not a regression"
    expected.write_text("info/20_lucene_version.yml/Lucene Version\n")
    code, out = run("--url", stub_url, "--dirs", "info", "--expected", str(expected))
    assert code == 1
    assert "REGRESSION info/20_lucene_version.yml/Lucene Version" in out


def test_test_filter(stub_url: str) -> None:
    code, out = run("--url", stub_url, "--dirs", "info", "--test", "info/10_info/*")
    assert out.strip().splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


def _fake_binary(tmp_path) -> str:
    binary = tmp_path / "tern"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {STUB} "$@"\n')
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return str(binary)


def test_binary_mode_starts_and_restarts_the_server(tmp_path, monkeypatch) -> None:
    crash_marker = tmp_path / "crashed-once"
    monkeypatch.setenv("STUB_CRASH_FILE", str(crash_marker))
    log = tmp_path / "server.log"
    code, out = run("--binary", _fake_binary(tmp_path), "--server-log", str(log), "--dirs", "info,ping")
    assert crash_marker.exists(), "the stub should have crashed once"
    assert "server crashed or hung" in out
    assert out.strip().splitlines()[-1] == "2 passed, 1 failed, 0 skipped"
    assert '"message": "started"' in log.read_text()
    assert code == 1


def test_binary_mode_restarts_a_hung_server(tmp_path, monkeypatch) -> None:
    hang_marker = tmp_path / "hung-once"
    monkeypatch.setenv("STUB_HANG_FILE", str(hang_marker))
    code, out = run("--binary", _fake_binary(tmp_path), "--request-timeout", "1", "--dirs", "ping,info")
    assert hang_marker.exists()
    assert "FAIL ping/10_ping.yml/Ping: server crashed or hung" in out
    assert out.strip().splitlines()[-1] == "2 passed, 1 failed, 0 skipped"
    assert code == 1


def test_binary_that_never_starts(tmp_path) -> None:
    binary = tmp_path / "tern"
    binary.write_text("#!/bin/sh\necho boom >&2\nexit 7\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    code, _ = run("--binary", str(binary), "--dirs", "ping")
    assert code == 2


def test_dry_run_parses_the_whole_suite() -> None:
    code, out = run("--dry-run")
    assert "0 parse errors, 0 step problems" in out
    assert "TOTAL:" in out and "1260 tests" in out
    assert code == 0
