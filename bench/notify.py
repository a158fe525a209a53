"""Does telling the world slow builds? Generated tiny products built side by side, interleaved:

- ``plain``: no OpenLineage, no subscriptions (the default);
- ``lineage-live``: OpenLineage over HTTP to a receiver on loopback that answers at once;
- ``lineage-dead``: OpenLineage over HTTP to a receiver that accepts connections and never answers;
- ``refused``: every product's build refused by the gate (each one stores a build_failed notification);
- ``refused-dead-webhook``: the same, with every team subscribed to a webhook that never answers.

A build only writes the catalog's outbox and queues lineage events for a background thread, so each
contender's build time should match its baseline (``plain`` or ``refused``); the wait for queued lineage events
happens when the mesh is closed (bounded, 15 s) and is reported separately.

    python bench/notify.py [--products 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import footer, header
from build import generated_mesh

from meshplane.workspace import Mesh


@contextmanager
def live_receiver() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dead_receiver() -> Iterator[str]:
    """A port that completes TCP handshakes (kernel backlog) but never reads or answers: the worst receiver."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def configure(root: Path, contender: str, live: str, dead: str) -> None:
    config = root / "mesh.yaml"
    text = config.read_text()
    if contender.startswith("lineage"):
        url = live if contender == "lineage-live" else dead
        text += f"openlineage:\n  transport: {{type: http, url: '{url}', timeout: 5}}\n"
    if contender == "refused-dead-webhook":
        teams = [line.split("name: ")[1].strip() for line in text.splitlines() if line.startswith("  - name: ")]
        subs = "".join(f"    - {{subscriber: 'team:{t}', channel: hook}}\n" for t in teams)
        text += (
            f"notifications:\n  channels:\n    hook: {{type: webhook, url: '{dead}', secret_env: BENCH_SECRET}}\n"
            f"  subscriptions:\n{subs}"
        )
    config.write_text(text)


def run(template: Path, work: Path, contender: str, live: str, dead: str) -> tuple[float, float, int]:
    """(build seconds, close seconds, products) for one fresh copy of the mesh."""
    root = work / contender
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template, root)
    configure(root, contender, live, dead)
    as_user = "nobody-owns-this" if contender.startswith("refused") else None
    mesh = Mesh.open(root)
    mesh.publish()
    started = time.perf_counter()
    result = mesh.build(jobs=2, as_user=as_user)
    built = time.perf_counter() - started
    started = time.perf_counter()
    mesh.close()
    closed = time.perf_counter() - started
    expected_ok = not contender.startswith("refused")
    if result.ok != expected_ok:
        raise SystemExit(f"{contender}: unexpected build result {[o.error for o in result.outcomes][:3]}")
    return built, closed, len(result.outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_SECRET", "bench")
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        del os.environ[key]
    started = header(f"notify: do OpenLineage and notifications slow builds? {args.products} tiny products")
    contenders = ["plain", "lineage-live", "lineage-dead", "refused", "refused-dead-webhook"]
    builds: dict[str, list[float]] = {c: [] for c in contenders}
    closes: dict[str, list[float]] = {c: [] for c in contenders}
    with (
        tempfile.TemporaryDirectory(prefix="mp-bench-notify-") as tmp,
        live_receiver() as live,
        dead_receiver() as dead,
    ):
        template = Path(tmp) / "template"
        generated_mesh(template, args.products, per_domain=max(1, min(100, args.products // 2)))
        run(template, Path(tmp), "plain", live, dead)  # warm-up: imports and first-use caches, not counted
        for _ in range(args.repeat):
            for contender in contenders:
                built, closed, count = run(template, Path(tmp), contender, live, dead)
                builds[contender].append(built / count)
                closes[contender].append(closed)
    print(f"\n{'contender':<22} {'build ms/product':>17} {'vs baseline':>12} {'close (flush) s':>16}")
    for contender in contenders:
        base = "refused" if contender.startswith("refused") else "plain"
        per = statistics.median(builds[contender])
        ratio = per / statistics.median(builds[base])
        print(f"{contender:<22} {1000 * per:>17.2f} {ratio:>11.2f}x {statistics.median(closes[contender]):>16.2f}")
    footer(started)


if __name__ == "__main__":
    main()
