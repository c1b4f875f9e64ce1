#!/usr/bin/env python3
"""Reads a JUnit XML report as CI test-report views do (junitparser) and
checks that it has the expected number of failed test cases, and that the
tests/failures counts it declares agree with its test cases.

    tests/ci_formats/check_junit.py FILE.xml EXPECTED_FAILURES

Exits 0 when it does, 1 (with a message) when not, 2 on bad usage.
junitparser is Debian's python3-junitparser.
"""

import os
import sys

try:
    from junitparser import Error, Failure, JUnitXml, TestSuite
except ImportError:
    # An interpreter other than the system one (a venv, pyenv) may lack the
    # Debian package; run under the system interpreter that has it.
    system = "/usr/bin/python3"
    if (os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system)
            and not os.environ.get("CHECK_JUNIT_REEXEC")):
        os.environ["CHECK_JUNIT_REEXEC"] = "1"
        os.execv(system, [system, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("check_junit: junitparser is missing (apt-get install python3-junitparser)")


def results_of(case):
    """A test case's results as a list (junitparser 1.x gives one or None)."""
    result = case.result
    if result is None:
        return []
    return list(result) if isinstance(result, list) else [result]


def is_failed(case):
    return any(isinstance(r, (Failure, Error)) for r in results_of(case))


def check(path, expected):
    """Returns a list of problems, empty when the report is as expected."""
    try:
        report = JUnitXml.fromfile(path)
    except Exception as exc:  # junitparser raises lxml's or ElementTree's errors
        return [f"cannot parse: {exc}"]
    suites = [report] if isinstance(report, TestSuite) else list(report)
    problems = []
    failed = 0
    total = 0
    for suite in suites:
        cases = list(suite)
        suite_failed = sum(1 for case in cases if is_failed(case))
        failed += suite_failed
        total += len(cases)
        if suite.tests is not None and suite.tests != len(cases):
            problems.append(f"suite {suite.name!r} declares tests={suite.tests}, has {len(cases)}")
        declared = (suite.failures or 0) + (suite.errors or 0)
        if declared != suite_failed:
            problems.append(f"suite {suite.name!r} declares {declared} failures and errors, "
                            f"has {suite_failed} failed test cases")
    if not isinstance(report, TestSuite) and report.tests is not None and report.tests != total:
        problems.append(f"<testsuites> declares tests={report.tests}, has {total}")
    if total == 0:
        problems.append("no test cases at all")
    if failed != expected:
        problems.append(f"{failed} failed test cases, expected {expected}")
    return problems


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit():
        print(f"usage: {argv[0]} FILE.xml EXPECTED_FAILURES", file=sys.stderr)
        return 2
    path, expected = argv[1], int(argv[2])
    problems = check(path, expected)
    for problem in problems:
        print(f"check_junit: {path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_junit: {path}: {expected} failed test cases, as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
