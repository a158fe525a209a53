"""SCRAM-SHA-256 authentication of PostgreSQL clients against the verifiers of a user's API tokens.

The SCRAM messages are parsed and checked by ``scramp``. All of a user's tokens share one salt (see
:mod:`meshplane.catalog.tokens`), so the server sends that salt and checks the client's proof against each
of the user's verifiers in turn. For a user without any (unknown, no token in force, or only tokens made
before SCRAM verifiers existed) the exchange runs the same with a salt derived from the user name and keys
nobody holds, so it fails at the proof like a wrong token: the answer never tells whether the user exists.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

__all__ = ["MECHANISM", "ScramExchange", "parse_verifier"]

MECHANISM = "SCRAM-SHA-256"


def parse_verifier(verifier: str) -> tuple[bytes, int, bytes, bytes]:
    """``(salt, iterations, stored_key, server_key)`` of ``SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>``."""
    mechanism, params, keys = verifier.split("$")
    if mechanism != MECHANISM:
        raise ValueError(f"not a {MECHANISM} verifier")
    iterations, salt = params.split(":")
    stored, server = keys.split(":")
    return base64.b64decode(salt), int(iterations), base64.b64decode(stored), base64.b64decode(server)


class ScramExchange:
    """One SCRAM-SHA-256 exchange with a client that claims to be a user with ``verifiers``."""

    def __init__(self, verifiers: Sequence[str], *, mock_key: bytes, user: str) -> None:
        import scramp  # type: ignore[import-untyped, unused-ignore]

        parsed = []
        for verifier in verifiers:
            try:
                parsed.append(parse_verifier(verifier))
            except ValueError:
                continue  # a malformed verifier authenticates nobody
        if parsed:
            salt, iterations = parsed[0][0], parsed[0][1]
            self.keys = [(s, k) for salt_, i, s, k in parsed if (salt_, i) == (salt, iterations)]
        else:
            salt = hmac.new(mock_key, user.encode(), hashlib.sha256).digest()[:16]
            iterations = 4096
            self.keys = [(secrets.token_bytes(32), secrets.token_bytes(32))]
        first = self.keys[0]
        self.server: Any = scramp.ScramMechanism(MECHANISM).make_server(
            lambda _name: (salt, first[0], first[1], iterations)  # the client's SCRAM user name is ignored
        )

    def server_first(self, client_first: str) -> str:
        """The server-first message; raises ``scramp.ScramException`` on a malformed client-first message."""
        header, separator, bare = client_first.partition(",n=,")
        if separator:
            # libpq sends an empty SCRAM user name (PostgreSQL takes the user from the start-up message), which
            # scramp refuses: it parses a placeholder, and the proof is checked over the message as sent
            self.server.set_client_first(f"{header},n=*,{bare}")
            self.server.client_first_bare = f"n=,{bare}"
        else:
            self.server.set_client_first(client_first)
        return str(self.server.get_server_first())

    def server_final(self, client_final: str) -> str | None:
        """The server-final message when the client's proof matches one of the verifiers, else None."""
        import scramp  # type: ignore[import-untyped, unused-ignore]

        for stored_key, server_key in self.keys:
            attempt = copy.copy(self.server)
            attempt.stored_key, attempt.server_key = stored_key, server_key
            try:
                attempt.set_client_final(client_final)
            except scramp.ScramException:
                continue
            return str(attempt.get_server_final())
        return None
