"""Suite-wide rules.

A test may skip on a developer's machine that lacks a service (PostgreSQL, Chromium, Java for Spark), with a
message saying what to install. In CI (``CI`` set, as `.ci/run` is run) every one of those services is
started or installed first, so any skip there means a suite silently did not run: the run fails instead.
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("CI") or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reasons = sorted(
            {
                str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
                for report in skipped
            }
        )
        if reporter is not None:
            reporter.line("")
            reporter.write_line(f"{len(skipped)} test(s) skipped in CI, where nothing may be skipped:", red=True)
            for reason in reasons:
                reporter.write_line(f"  {reason}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
