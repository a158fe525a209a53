"""API tokens: ``mpt_<id>_<secret>``; only a salted HMAC-SHA256 of the secret is stored.

Secrets are 256 random bits, so a fast keyed hash is enough (a slow KDF protects guessable
passwords, not random tokens); the per-token salt keeps equal secrets from sharing a hash, and the
id lets verification find the one row to compare in constant time.

PostgreSQL clients may prove they hold a token with SCRAM-SHA-256 instead of sending it: that needs a
verifier derived from the whole token, in PostgreSQL's own format (RFC 5802/7677), which can only be computed
while the plaintext exists, when the token is created. A SCRAM exchange names the user, not the token, and
the server sends its salt before the client's proof arrives, so all of one user's tokens share one SCRAM
salt: the proof is then checked against each of the user's verifiers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["SCRAM_ITERATIONS", "NewToken", "hash_secret", "new_token", "scram_salt", "scram_verifier", "split_token"]

PREFIX = "mpt_"
SCRAM_ITERATIONS = 4096
"""PostgreSQL's default; the tokens are random, so more iterations would only slow every client's sign-in."""


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    secret: str
    salt: str
    token_hash: str

    @property
    def plaintext(self) -> str:
        return f"{PREFIX}{self.id}_{self.secret}"


def hash_secret(secret: str, salt: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def new_token() -> NewToken:
    token_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
    return NewToken(token_id, secret, salt, hash_secret(secret, salt))


def scram_verifier(token: str, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` of ``token`` (what PostgreSQL stores).

    Tokens are ASCII letters, digits, ``-`` and ``_``, which SASLprep leaves as they are."""
    salted = hashlib.pbkdf2_hmac("sha256", token.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def scram_salt(verifier: str) -> bytes:
    """The salt of a verifier made by :func:`scram_verifier`."""
    return base64.b64decode(verifier.split("$")[1].split(":")[1])


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret
