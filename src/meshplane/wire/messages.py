"""PostgreSQL protocol v3 framing: reading frontend messages, building backend messages.

Only what a read-only query server needs (see https://www.postgresql.org/docs/current/protocol-message-formats.html).
Every backend message is ``type byte + int32 length (including itself) + body``; the start-up packet has no
type byte.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CANCEL_REQUEST",
    "GSSENC_REQUEST",
    "PROTOCOL_V3",
    "SSL_REQUEST",
    "FieldSpec",
    "ProtocolViolation",
    "Reader",
    "authentication_cleartext",
    "authentication_ok",
    "backend_key_data",
    "command_complete",
    "data_row",
    "error_response",
    "message",
    "notice_response",
    "parameter_description",
    "parameter_status",
    "ready_for_query",
    "row_description",
]

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
_MAX_MESSAGE = 64 * 1024 * 1024  # a frontend message larger than this is a protocol violation


class ProtocolViolation(Exception):
    """The client sent something that is not PostgreSQL protocol v3."""


class Reader:
    """Reads one frontend message at a time from a stream, and the fields inside one message."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def startup(self) -> bytes:
        """The start-up, SSL or cancel packet: its body after the length."""
        (length,) = struct.unpack("!i", await self.stream.readexactly(4))
        if length < 8 or length > 10_000:
            raise ProtocolViolation("invalid start-up packet length")
        return await self.stream.readexactly(length - 4)

    async def message(self) -> tuple[bytes, bytes]:
        """``(type byte, body)`` of the next message."""
        header = await self.stream.readexactly(5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        if length < 4 or length > _MAX_MESSAGE:
            raise ProtocolViolation(f"invalid message length {length}")
        return kind, await self.stream.readexactly(length - 4)


class Body:
    """A cursor over one message body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int16(self) -> int:
        (value,) = struct.unpack_from("!h", self.data, self.pos)
        self.pos += 2
        return int(value)

    def int32(self) -> int:
        (value,) = struct.unpack_from("!i", self.data, self.pos)
        self.pos += 4
        return int(value)

    def byte(self) -> bytes:
        value = self.data[self.pos : self.pos + 1]
        self.pos += 1
        return value

    def cstring(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        value = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return value

    def raw(self, size: int) -> bytes:
        value = self.data[self.pos : self.pos + size]
        if len(value) != size:
            raise ProtocolViolation("message shorter than its fields")
        self.pos += size
        return value


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\x00"


def authentication_ok() -> bytes:
    return message(b"R", struct.pack("!i", 0))


def authentication_cleartext() -> bytes:
    return message(b"R", struct.pack("!i", 3))


def authentication_sasl(mechanisms: Sequence[str]) -> bytes:
    return message(b"R", struct.pack("!i", 10) + b"".join(_cstr(m) for m in mechanisms) + b"\x00")


def authentication_sasl_continue(data: bytes) -> bytes:
    return message(b"R", struct.pack("!i", 11) + data)


def authentication_sasl_final(data: bytes) -> bytes:
    return message(b"R", struct.pack("!i", 12) + data)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", _cstr(name) + _cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", struct.pack("!ii", pid, secret))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def command_complete(tag: str) -> bytes:
    return message(b"C", _cstr(tag))


def _fields(severity: str, code: str, text: str, hint: str | None) -> bytes:
    body = b"S" + _cstr(severity) + b"V" + _cstr(severity) + b"C" + _cstr(code) + b"M" + _cstr(text)
    if hint:
        body += b"H" + _cstr(hint)
    return body + b"\x00"


def error_response(code: str, text: str, *, severity: str = "ERROR", hint: str | None = None) -> bytes:
    return message(b"E", _fields(severity, code, text, hint))


def notice_response(text: str) -> bytes:
    return message(b"N", _fields("NOTICE", "00000", text, None))


def parameter_description(oids: Sequence[int]) -> bytes:
    return message(b"t", struct.pack("!h", len(oids)) + b"".join(struct.pack("!i", o) for o in oids))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One result column as RowDescription announces it."""

    name: str
    type_oid: int
    type_size: int = -1
    type_modifier: int = -1
    format: int = 0  # 0 text, 1 binary
    table_oid: int = 0
    column_number: int = 0


def row_description(fields: Sequence[FieldSpec]) -> bytes:
    body = struct.pack("!h", len(fields))
    for f in fields:
        body += _cstr(f.name) + struct.pack("!ihihih", f.table_oid, f.column_number, f.type_oid, f.type_size,
                                            f.type_modifier, f.format)  # fmt: skip
    return message(b"T", body)


def data_row(values: Sequence[bytes | None]) -> bytes:
    body = struct.pack("!h", len(values))
    for value in values:
        body += struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value
    return message(b"D", body)
