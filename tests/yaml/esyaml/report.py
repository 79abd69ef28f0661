"""Summaries, the expected-pass list (the CI regression gate) and the JSON report.

The pass rate of a directory is passed / (passed + failed): skipped tests are shown separately so a rising
skip count cannot pass for progress. The last line of the summary is always exactly
``N passed, N failed, N skipped`` so scripts can read it.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TextIO

from .executor import Status, TestResult


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, status: Status) -> None:
        if status is Status.PASS:
            self.passed += 1
        elif status is Status.FAIL:
            self.failed += 1
        else:
            self.skipped += 1

    @property
    def run(self) -> int:
        return self.passed + self.failed

    def rate(self) -> str:
        percent = 100.0 * self.passed / self.run if self.run else 0.0
        return f"{self.passed}/{self.run} ({percent:.1f}%)"


def tally_by_dir(results: Iterable[TestResult]) -> OrderedDict[str, Tally]:
    tallies: OrderedDict[str, Tally] = OrderedDict()
    for result in results:
        tallies.setdefault(result.directory, Tally()).add(result.status)
    return OrderedDict(sorted(tallies.items()))


def total(results: Iterable[TestResult]) -> Tally:
    overall = Tally()
    for result in results:
        overall.add(result.status)
    return overall


def print_summary(results: list[TestResult], out: TextIO) -> Tally:
    tallies = tally_by_dir(results)
    width = max([len("TOTAL"), *(len(name) for name in tallies)])
    for directory, tally in tallies.items():
        skipped = f", {tally.skipped} skipped" if tally.skipped else ""
        print(f"{directory + ':':<{width + 1}} {tally.rate()}{skipped}", file=out)
    overall = total(results)
    print(f"{'TOTAL:':<{width + 1}} {overall.rate()}, {overall.skipped} skipped", file=out)
    print(f"{overall.passed} passed, {overall.failed} failed, {overall.skipped} skipped", file=out)
    return overall


def read_id_list(path: str) -> list[str]:
    """Test ids, one per line; blank lines and ``#`` comments ignored."""
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip() and not line.startswith("#")]


def write_expected(path: str, results: list[TestResult]) -> int:
    passing = sorted(result.test_id for result in results if result.status is Status.PASS)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            "# YAML REST tests tern passes: the regression gate (`runner.py --expected`).\n"
            "# One id per line: dir/file.yml/test name. Regenerate with `runner.py --write-expected`\n"
            "# after a full run; a test listed here that fails makes CI fail.\n"
        )
        for test_id in passing:
            handle.write(test_id + "\n")
    return len(passing)


@dataclass
class GateOutcome:
    regressions: list[TestResult]
    newly_passing: list[str]
    unknown_ids: list[str]  # listed but not among the tests of this run


def check_expected(expected_ids: list[str], results: list[TestResult], all_known_ids: set[str]) -> GateOutcome:
    """Tests listed as passing that did not pass in this run (only tests this run selected count)."""
    expected = set(expected_ids)
    by_id = {result.test_id: result for result in results}
    regressions = [
        by_id[test_id] for test_id in sorted(expected) if test_id in by_id and by_id[test_id].status is not Status.PASS
    ]
    newly_passing = sorted(r.test_id for r in results if r.status is Status.PASS and r.test_id not in expected)
    unknown = sorted(test_id for test_id in expected if test_id not in all_known_ids)
    return GateOutcome(regressions=regressions, newly_passing=newly_passing, unknown_ids=unknown)


def write_json_report(path: str, results: list[TestResult], meta: dict[str, object]) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    overall = total(results)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "summary": {"passed": overall.passed, "failed": overall.failed, "skipped": overall.skipped},
        "directories": {name: asdict(tally) for name, tally in tally_by_dir(results).items()},
        "tests": [{**asdict(result), "status": result.status.value} for result in results],
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
