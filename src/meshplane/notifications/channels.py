"""The channels: webhooks (a JSON body signed with HMAC-SHA256) and e-mail over SMTP; and the retry schedule.

A webhook request carries ``X-Meshplane-Timestamp`` (Unix seconds) and ``X-Meshplane-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the channel's secret, so a receiver can
reject forged and replayed requests; ``X-Meshplane-Delivery`` stays the same across retries of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SendResult",
    "backoff_delay",
    "send_email",
    "send_webhook",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Meshplane-Signature"
TIMESTAMP_HEADER = "X-Meshplane-Timestamp"
DELIVERY_HEADER = "X-Meshplane-Delivery"
EVENT_HEADER = "X-Meshplane-Event"
_MAX_DELAY = 6 * 3600.0


@dataclass(frozen=True)
class SendResult:
    ok: bool
    seconds: float
    status_code: int | None = None
    error: str | None = None


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float | None = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (``tolerance`` seconds)."""
    if tolerance is not None:
        try:
            if abs((time.time() if now is None else now) - float(timestamp)) > tolerance:
                return False
        except ValueError:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff_delay(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): base, 2·base, 4·base, ... (≤ 6 h)."""
    return float(min(base * 2 ** max(0, attempt - 1), _MAX_DELAY))


def send_webhook(url: str, body: bytes, *, secret: bytes, event: str, delivery_id: str, timeout: float) -> SendResult:
    """POST ``body``; any 2xx is delivered, anything else (or no answer within ``timeout``) is a failure."""
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "meshplane-notifications",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
        },
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        return SendResult(False, time.perf_counter() - started, error.code, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return SendResult(False, time.perf_counter() - started, None, f"{type(error).__name__}: {reason}")
    ok = 200 <= status < 300
    return SendResult(ok, time.perf_counter() - started, status, None if ok else f"HTTP {status}")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None


def send_email(
    server: SmtpServer,
    to: Sequence[str],
    subject: str,
    text: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> SendResult:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(text)
    started = time.perf_counter()
    try:
        with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
            if server.starttls:
                smtp.starttls()
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        return SendResult(False, time.perf_counter() - started, None, f"{type(error).__name__}: {error}")
    return SendResult(True, time.perf_counter() - started)
