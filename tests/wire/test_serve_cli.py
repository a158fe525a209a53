"""``meshplane serve --pg``: the portal and the PostgreSQL port from one command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import psycopg

from meshplane.workspace import Mesh
from server.helpers import free_port
from wire.conftest import CONSUMER

MAIN = "from meshplane.cli.app import main; main()"


def test_serve_with_pg_answers_psycopg(media: Mesh) -> None:
    token, _ = media.platform.catalog.writer.create_token(CONSUMER, name="serve --pg")
    process = subprocess.Popen(
        [sys.executable, "-c", MAIN, "serve", "--mesh", str(media.root), "--port", str(free_port()),
         "--no-schedule", "--workers", "1", "--pg", "--pg-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"postgresql://USER@127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port is not None
        dsn = f"host=127.0.0.1 port={port} user={CONSUMER} password={token} dbname=media sslmode=disable"
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM royalties.creator_payouts.payout_lines").fetchone()
    finally:
        process.terminate()
        process.wait(timeout=30)
