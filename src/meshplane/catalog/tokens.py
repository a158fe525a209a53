"""API tokens: ``mpt_<id>_<secret>``; only a salted HMAC-SHA256 of the secret is stored.

Secrets are 256 random bits, so a fast keyed hash is enough (a slow KDF protects guessable
passwords, not random tokens); the per-token salt keeps equal secrets from sharing a hash, and the
id lets verification find the one row to compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["NewToken", "hash_secret", "new_token", "split_token"]

PREFIX = "mpt_"


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


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret
