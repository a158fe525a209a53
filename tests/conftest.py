"""Suite-wide rules.

A test may skip on a developer's machine that lacks a service (PostgreSQL, Chromium, Java for Spark), with a
message saying what to install. In CI (``CI`` set, as `.ci/run` is run) every one of those services is
started or installed first, so any skip there means a suite silently did not run: the run fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# --- S3 on loopback: moto's server mode, one process per test session ------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT

    def env(self) -> dict[str, str]:
        """The standard AWS variables a platform process reads (moto accepts any key pair)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "meshplane-test-key",
            "AWS_SECRET_ACCESS_KEY": "meshplane-test-secret-Zq81",
        }

    def create_bucket(self, prefix: str = "mesh") -> str:
        from pyarrow import fs

        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        env = self.env()
        s3 = fs.S3FileSystem(
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=self.endpoint.removeprefix("http://"),
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        s3.create_dir(name)
        return name


def start_moto_server(extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 (and IAM) HTTP API on 127.0.0.1, on a port the OS picked: the process and its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **(extra_env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto_server did not start (pip install 'moto[server]')") from None
            time.sleep(0.1)


def split_repos_module() -> Any:
    """examples/media/split_repos.py, loaded as a module (it is a script of the example, not a package)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "media" / "split_repos.py"
    spec = importlib.util.spec_from_file_location("split_repos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 HTTP API on 127.0.0.1 (``moto[server]``), on a port the OS picked."""
    process, endpoint = start_moto_server()
    try:
        yield S3Server(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The AWS variables of the loopback S3 server, set for this test (and the subprocesses it starts)."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server
