"""`meshplane demo` serves both example meshes and prints a consumer's token, at a tiny data scale."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _free_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no two free neighbouring ports")


def _status(url: str) -> int:
    request = urllib.request.Request(url, method="GET")
    opener = urllib.request.build_opener(urllib.request.HTTPRedirectHandler())
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_the_demo_serves_both_example_meshes(tmp_path: Path) -> None:
    port = _free_pair()
    process = subprocess.Popen(
        [sys.executable, "-c", "from meshplane.cli.app import main; main()", "demo", str(tmp_path / "demo"),
         "--scale", "0.01", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 400
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if "dev mode" in line:
                break
        text = "".join(seen)
        urls = re.findall(r"meshplane portal for (\w+): (http://127\.0\.0\.1:\d+/)", text)
        assert sorted(name for name, _ in urls) == ["media", "pharma"], text
        assert "(consumer, no grants yet)" in text
        assert "warning" not in text.lower()
        for _, url in urls:
            for _ in range(60):  # the child server may still be starting
                try:
                    assert _status(url + "api/v1/health") < 500
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                raise AssertionError(f"{url} never answered")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
