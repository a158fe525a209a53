"""A loopback HTTP receiver for tests: records every POST (path, headers, body); answers from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status code for the n-th request (0-based); default 200.
    status_for: Callable[[int], int] = lambda n: 200

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]


@contextmanager
def receiver(status_for: Callable[[int], int] = lambda n: 200) -> Iterator[Receiver]:
    lock = threading.Lock()
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                got = box[0]
                number = len(got.requests)
                got.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = got.status_for(number)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}", status_for=status_for))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
