"""Shared by the server, browser and load tests: a small built copy of the media example, and personas."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"

# Who plays which part in the media mesh (see examples/media/mesh.yaml).
CONSUMER = "raj"  # royalties analyst: owns nothing in podcasts
OWNER = "bilal"  # podcasts-team engineer, not in the governance guild
GOVERNANCE = "gina"  # governance-guild lead
PERSONAS = ("anonymous", CONSUMER, OWNER, GOVERNANCE)


def copy_media(target: Path, scale: float = 0.02, build: bool = True) -> Path:
    destination = target / "media"
    shutil.copytree(EXAMPLE, destination, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    subprocess.run([sys.executable, "generate.py", "--scale", str(scale)], cwd=destination, check=True,
                   capture_output=True)  # fmt: skip
    with Mesh.open(destination) as mesh:
        mesh.publish()
        agree_declared_as_owners(mesh.graph, mesh.access)
        if build:
            result = mesh.build(jobs=1)
            assert result.ok, result
    return destination


def bearer(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"} if who in tokens else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(mesh_path: Path, *, dev: bool = True, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """``meshplane serve``'s app in a child uvicorn process on loopback; returns it and its base URL."""
    port = free_port()
    env = {**os.environ, "MESHPLANE_SERVE_MESH": str(mesh_path), "MESHPLANE_SERVE_DEV": "1" if dev else "0"}
    if workers > 1:  # publish once here rather than in every worker at once
        with Mesh.open(mesh_path) as mesh:
            mesh.publish()
        env["MESHPLANE_SERVE_PUBLISHED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "meshplane.server:app_from_env", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", str(workers)],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the server did not start within 60 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
