"""One client connection: start-up, authentication, then the simple and extended query protocols.

Blocking work (authentication, the gateway, DuckDB) runs on the server's thread pool; the event loop only
moves bytes. Rows are sent a record batch at a time as the gateway produces them, and written only as fast
as the client reads (``drain``), so no result is held whole. A CancelRequest on another connection, a
client that disconnects while its query runs, or a failed write cancels the running query at once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import struct
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlglot import exp

from meshplane.engines.duckdb_sandbox import QueryCancelled, QueryInterrupted, ResultTooLarge
from meshplane.errors import AccessDenied, MeshError, QueryRejected
from meshplane.wire import messages as m
from meshplane.wire.auth import MECHANISM, ScramExchange
from meshplane.wire.catalog import SERVER_VERSION, CatalogQuery, UndefinedObject
from meshplane.wire.statements import Kind, Statement, bind_parameters, classify, split_statements
from meshplane.wire.values import copy_binary_rows, decode_parameter, encode_batch, field_specs

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from meshplane.wire.server import ResultStream, WireServer

__all__ = ["Session"]

T = TypeVar("T")


class WireError(Exception):
    """An error to report to the client as an ErrorResponse."""

    def __init__(self, code: str, text: str, hint: str | None = None) -> None:
        super().__init__(text)
        self.code, self.text, self.hint = code, text, hint


class ClientGone(Exception):
    """The client closed its connection."""


@dataclass
class Prepared:
    statement: Statement
    param_types: list[int]


@dataclass
class Portal:
    prepared: Prepared
    sql: str
    formats: list[int]
    stream: ResultStream | None = None
    pending: pa.RecordBatch | None = None
    sent: int = 0
    described: bool = False
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_PORT_NAMES = (Kind.DATA, Kind.COPY_OUT)  # statements whose schema."product.port" names become addresses
_CANCEL_BACKEND = re.compile(r"^\s*SELECT\s+(?:pg_catalog\s*\.\s*)?pg_cancel_backend\s*\(\s*(\d+)\s*\)\s*;?\s*$",
                             re.IGNORECASE)  # fmt: skip
_SET = re.compile(r"^SET\s+(?:SESSION\s+|LOCAL\s+)?([\w.]+)\s*(?:=|\bTO\b)\s*(.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_SHOW = re.compile(r"^SHOW\s+([\w.]+(?:\s+[\w.]+)*)\s*;?\s*$", re.IGNORECASE)


class Session:
    """Serves one connection until the client terminates or disconnects."""

    def __init__(self, server: WireServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = m.Reader(reader)
        self.writer = writer
        self.pid = 0
        self.secret = secrets.randbits(31)
        self.user = ""
        self.status = b"I"
        self.tls = False
        self.settings: dict[str, str] = {}
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.cursors: dict[str, Portal] = {}
        """SQL-level cursors (DECLARE ... CURSOR FOR): open streams read by FETCH."""
        self.current: ResultStream | None = None
        self.cancel_requested = False
        self.catalog: CatalogQuery | None = None

    # --- plumbing ---------------------------------------------------------------------------------

    async def call(self, work: Callable[..., T], *args: Any) -> T:
        """Run blocking ``work`` on the pool; a client that disconnects meanwhile cancels the running query."""
        future = asyncio.get_running_loop().run_in_executor(self.server.pool, work, *args)
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.05)
            if done:
                return future.result()
            if self.reader.stream.at_eof() or self.writer.is_closing():
                self.cancel()

    async def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ClientGone
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            raise ClientGone from None

    def cancel(self) -> None:
        self.cancel_requested = True  # a query still being planned is cancelled once it exists
        stream = self.current
        if stream is not None:
            stream.cancel()

    # --- start-up ---------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self.startup():
                await self.loop()
        except (ClientGone, asyncio.IncompleteReadError, ConnectionError, m.ProtocolViolation):
            pass
        finally:
            await self.cleanup()

    async def startup(self) -> bool:
        while True:
            body = await self.reader.startup()
            (code,) = struct.unpack_from("!i", body)
            if code == m.SSL_REQUEST:
                context = self.server.ssl_context
                await self.send(b"S" if context is not None and not self.tls else b"N")
                if context is not None and not self.tls:
                    await self.writer.start_tls(context)
                    self.tls = True
                continue
            if code == m.GSSENC_REQUEST:
                await self.send(b"N")
                continue
            if code == m.CANCEL_REQUEST:
                pid, secret = struct.unpack_from("!ii", body, 4)
                self.server.cancel(pid, secret)
                return False
            if code != m.PROTOCOL_V3:
                await self.send(m.error_response("0A000", "unsupported frontend protocol; use protocol 3.0",
                                                 severity="FATAL"))  # fmt: skip
                return False
            break
        parts = body[4:].split(b"\x00")
        params = {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2) if parts[i]}
        self.user = params.get("user", "")
        self.settings.update({k.lower(): v for k, v in params.items() if k not in ("user", "database", "options")})
        database = params.get("database") or self.user
        if not self.tls and not self.server.plaintext_allowed:
            await self.send(m.error_response("28000", "this server accepts only TLS connections",
                                             severity="FATAL", hint="connect with sslmode=require"))  # fmt: skip
            return False
        scram = self.server.config.auth == "scram-sha-256"
        if not await (self.scram() if scram else self.cleartext()):
            await self.send(m.error_response("28P01", f'password authentication failed for user "{self.user}"',
                                             severity="FATAL", hint="the password is a meshplane API token: "
                                             "meshplane token create USER"))  # fmt: skip
            return False
        self.pid = self.server.register(self)
        self.catalog = CatalogQuery(self.server.catalog_sandbox, user=self.user, database=database, pid=self.pid,
                                    settings=ChainMap(self.settings, _DEFAULTS))  # fmt: skip
        self.settings.setdefault("application_name", "")
        status = {
            "server_version": SERVER_VERSION, "server_encoding": "UTF8", "client_encoding": "UTF8",
            "DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on", "IntervalStyle": "postgres",
            "standard_conforming_strings": "on", "is_superuser": "off", "session_authorization": self.user,
            "application_name": self.settings["application_name"],
        }  # fmt: skip
        out = m.authentication_ok() + b"".join(m.parameter_status(k, v) for k, v in status.items())
        await self.send(out + m.backend_key_data(self.pid, self.secret) + m.ready_for_query(b"I"))
        return True

    async def password_message(self) -> bytes:
        kind, body = await self.reader.message()
        if kind != b"p":
            raise m.ProtocolViolation("expected a password message")
        return body

    async def cleartext(self) -> bool:
        """The token sent as a cleartext password (over TLS, or on loopback)."""
        await self.send(m.authentication_cleartext())
        password = (await self.password_message()).rstrip(b"\x00").decode("utf-8", "replace")
        return bool(self.user) and await self.call(self.server.backend.authenticate, self.user, password)

    async def scram(self) -> bool:
        """SCRAM-SHA-256: the client proves it holds one of the user's tokens without sending it."""
        import scramp  # type: ignore[import-untyped, unused-ignore]

        await self.send(m.authentication_sasl([MECHANISM]))
        initial = m.Body(await self.password_message())
        mechanism, size = initial.cstring(), initial.int32()
        if mechanism != MECHANISM or size < 0:
            raise m.ProtocolViolation(f"expected a {MECHANISM} initial response")
        verifiers = await self.call(self.server.backend.scram_verifiers, self.user) if self.user else []
        exchange = ScramExchange(verifiers, mock_key=self.server.mock_key, user=self.user)
        try:
            first = exchange.server_first(initial.raw(size).decode("utf-8"))
        except (scramp.ScramException, UnicodeDecodeError) as error:
            raise m.ProtocolViolation(f"invalid SCRAM message: {error}") from None
        await self.send(m.authentication_sasl_continue(first.encode()))
        final = exchange.server_final((await self.password_message()).decode("utf-8", "replace"))
        if final is None or not self.user:
            return False
        await self.send(m.authentication_sasl_final(final.encode()))
        return True

    async def cleanup(self) -> None:
        self.cancel()
        for portal in [*self.portals.values(), *self.cursors.values()]:
            await self.close_portal(portal)
        self.portals.clear()
        self.cursors.clear()
        if self.catalog is not None:
            self.catalog.close()
        self.server.unregister(self)
        if not self.writer.is_closing():
            self.writer.close()

    # --- message loop -----------------------------------------------------------------------------

    async def loop(self) -> None:
        failed = False  # an extended-protocol error: skip to the next Sync
        while True:
            kind, body = await self.reader.message()
            if kind == b"X":
                return
            if failed and kind not in (b"S", b"Q"):
                continue
            try:
                if kind == b"Q":
                    failed = False
                    await self.simple_query(body.rstrip(b"\x00").decode("utf-8"))
                elif kind == b"P":
                    self.parse(m.Body(body))
                    await self.send(m.message(b"1"))
                elif kind == b"B":
                    await self.bind(m.Body(body))
                    await self.send(m.message(b"2"))
                elif kind == b"D":
                    await self.describe(m.Body(body))
                elif kind == b"E":
                    await self.execute(m.Body(body))
                elif kind == b"C":
                    await self.close(m.Body(body))
                    await self.send(m.message(b"3"))
                elif kind == b"S":
                    failed = False
                    if self.status == b"I":
                        await self.close_portals()
                        for name in list(self.cursors):  # cursors without HOLD end with their transaction
                            await self.close_portal(self.cursors.pop(name))
                    await self.send(m.ready_for_query(self.status))
                elif kind == b"H":
                    await self.send(b"")
                elif kind in (b"d", b"c", b"f"):
                    continue  # COPY FROM data after a refused COPY
                else:
                    raise WireError("08P01", f"unsupported message type {kind!r}")
            except WireError as error:
                if self.status == b"T":
                    self.status = b"E"
                await self.send(m.error_response(error.code, error.text, hint=error.hint))
                failed = True
            except (ValueError, TypeError, OverflowError, struct.error) as error:  # a value this server cannot send
                await self.send(m.error_response("0A000", f"cannot send the result: {error}"))
                failed = True

    # --- simple query -----------------------------------------------------------------------------

    async def simple_query(self, text: str) -> None:
        statements = split_statements(text)
        try:
            if not statements:
                await self.send(m.message(b"I"))
            for part in statements:
                statement = classify(part)
                sql = bind_parameters(statement.text, []) if statement.kind in _PORT_NAMES else statement.text
                portal = Portal(Prepared(statement, []), sql, [])
                try:
                    await self.run_statement(portal, describe=True, max_rows=0)
                finally:
                    await self.close_portal(portal)
        except WireError as error:
            if self.status == b"T":
                self.status = b"E"
            await self.send(m.error_response(error.code, error.text, hint=error.hint))
        except (ValueError, TypeError, OverflowError, struct.error) as error:  # e.g. $1 in a simple query
            if self.status == b"T":
                self.status = b"E"
            await self.send(m.error_response("42P02" if "parameter" in str(error) else "0A000", str(error)))
        await self.send(m.ready_for_query(self.status))  # a simple query always ends ready for the next

    # --- extended query ---------------------------------------------------------------------------

    def parse(self, body: m.Body) -> None:
        name, text = body.cstring(), body.cstring()
        types = [body.int32() for _ in range(body.int16())]
        statements = split_statements(text)
        if len(statements) > 1:
            raise WireError("42601", "cannot insert multiple commands into a prepared statement")
        statement = classify(statements[0] if statements else "")
        if name and name in self.prepared:
            raise WireError("42P05", f'prepared statement "{name}" already exists')
        count = max((int(n) for n in re.findall(r"\$(\d+)", statement.text)), default=0)
        types += [0] * (count - len(types))
        self.prepared[name] = Prepared(statement, types)

    async def bind(self, body: m.Body) -> None:
        portal_name, name = body.cstring(), body.cstring()
        prepared = self.prepared.get(name)
        if prepared is None:
            raise WireError("26000", f'prepared statement "{name}" does not exist')
        formats = [body.int16() for _ in range(body.int16())]
        raw: list[bytes | None] = []
        for _ in range(body.int16()):
            size = body.int32()
            raw.append(None if size < 0 else body.raw(size))
        results = [body.int16() for _ in range(body.int16())]
        try:
            values = [decode_parameter(v, prepared.param_types[i] if i < len(prepared.param_types) else 0,
                                       formats[0] if len(formats) == 1 else formats[i] if formats else 0)
                      for i, v in enumerate(raw)]  # fmt: skip
            sql = bind_parameters(prepared.statement.text, values) if values else prepared.statement.text
            if prepared.statement.kind in _PORT_NAMES:
                sql = bind_parameters(sql, [])
        except (ValueError, IndexError, struct.error) as error:
            raise WireError("22P02", f"invalid parameter: {error}") from None
        old = self.portals.pop(portal_name, None)
        if old is not None:
            await self.close_portal(old)
        self.portals[portal_name] = Portal(prepared, sql, results)

    async def describe(self, body: m.Body) -> None:
        what, name = body.byte(), body.cstring()
        if what == b"S":
            prepared = self.prepared.get(name)
            if prepared is None:
                raise WireError("26000", f'prepared statement "{name}" does not exist')
            await self.send(m.parameter_description([t or 25 for t in prepared.param_types]))
            schema = await self.statement_schema(prepared)
            await self.send(m.row_description(field_specs(schema)) if schema is not None else m.message(b"n"))
            return
        portal = self.portals.get(name)
        cursor = self.cursors.get(name)
        if portal is None and cursor is not None and cursor.stream is not None:  # a DECLAREd cursor is a portal
            await self.send(m.row_description(field_specs(cursor.stream.schema, cursor.formats)))
            return
        if portal is None:
            raise WireError("34000", f'portal "{name}" does not exist')
        await self.run_statement(portal, describe=True, max_rows=-1)

    async def statement_schema(self, prepared: Prepared) -> pa.Schema | None:
        statement = prepared.statement
        if statement.kind in (Kind.SESSION, Kind.EMPTY, Kind.REFUSED, Kind.COPY_OUT) or statement.command == "DECLARE":
            return self.session_schema(statement)
        nulls = [None] * len(prepared.param_types)
        sql = bind_parameters(statement.text, nulls)
        portal = Portal(prepared, sql, [])
        try:
            await self.open(portal)
            assert portal.stream is not None
            return portal.stream.schema
        finally:
            await self.close_portal(portal)

    async def execute(self, body: m.Body) -> None:
        name, max_rows = body.cstring(), body.int32()
        portal = self.portals.get(name)
        if portal is None:
            raise WireError("34000", f'portal "{name}" does not exist')
        await self.run_statement(portal, describe=False, max_rows=max_rows)

    async def close(self, body: m.Body) -> None:
        what, name = body.byte(), body.cstring()
        if what == b"S":
            self.prepared.pop(name, None)
        else:
            portal = self.portals.pop(name, None)
            if portal is not None:
                await self.close_portal(portal)

    async def close_portals(self) -> None:
        for name in list(self.portals):
            await self.close_portal(self.portals.pop(name))

    async def close_portal(self, portal: Portal) -> None:
        stream, portal.stream = portal.stream, None
        if stream is not None:
            if self.current is stream:
                self.current = None
            await asyncio.get_running_loop().run_in_executor(self.server.pool, stream.close)

    # --- running statements -----------------------------------------------------------------------

    async def run_statement(self, portal: Portal, *, describe: bool, max_rows: int) -> None:
        """Describe (``max_rows`` -1) or execute a portal; a simple query does both."""
        statement = portal.prepared.statement
        if statement.kind is Kind.EMPTY:
            await self.send(m.message(b"n") if max_rows < 0 else m.message(b"I"))
            return
        if statement.kind is Kind.REFUSED:
            raise WireError(
                "25006",
                f"cannot execute {statement.command} here: meshplane serves read-only queries",
                hint="query ports with SELECT; build and publish products with meshplane build",
            )
        if statement.kind is Kind.SESSION:
            await self.session_command(portal, describe=describe, execute=max_rows >= 0)
            return
        if statement.command == "DECLARE":
            if max_rows < 0:
                await self.send(m.message(b"n"))
                return
            cursor = Portal(portal.prepared, portal.sql, [1] if statement.copy_binary else [])
            await self.open(cursor)
            old = self.cursors.pop(statement.cursor, None)
            if old is not None:
                await self.close_portal(old)
            self.cursors[statement.cursor] = cursor
            await self.send(m.command_complete("DECLARE CURSOR"))
            return
        if portal.done:
            await self.send(m.command_complete(f"SELECT {portal.sent}"))
            return
        if portal.stream is None:
            await self.open(portal)
        assert portal.stream is not None
        if statement.kind is Kind.COPY_OUT:
            if max_rows >= 0:
                await self.copy_out(portal)
            else:
                await self.send(m.message(b"n"))
            return
        if describe and not portal.described:
            portal.described = True
            await self.send(m.row_description(field_specs(portal.stream.schema, portal.formats)))
        if max_rows < 0:
            return
        if await self.send_rows(portal, max_rows):
            portal.done = True
            await self.send(m.command_complete(f"SELECT {portal.sent}"))
            await self.close_portal(portal)
        else:
            await self.send(m.message(b"s"))  # PortalSuspended

    async def open(self, portal: Portal) -> None:
        statement = portal.prepared.statement
        self.cancel_requested = False
        cancel_backend = _CANCEL_BACKEND.match(portal.sql) if statement.kind is Kind.CATALOG else None
        try:
            if cancel_backend is not None:  # answered by the server itself: it cancels a session, runs no SQL
                done = self.server.cancel_own(self.user, int(cancel_backend.group(1)))
                portal.stream = _Answer("pg_cancel_backend", done)
            elif statement.kind is Kind.CATALOG:
                assert self.catalog is not None
                # a query of no table (SELECT 1, version()) needs no list of ports: deciding it costs a trip
                # to a worker per port
                ports = await self.call(self.server.readable_ports, self.user) if _names_tables(portal.sql) else ()
                portal.stream = await self.call(self.server.catalog_stream, self.catalog, portal.sql, ports)
            else:
                portal.stream = await self.call(self.server.backend.stream, self.user, portal.sql)
        except Exception as error:
            raise _wire_error(error, catalog=statement.kind is Kind.CATALOG) from None
        self.current = portal.stream
        if self.cancel_requested:
            portal.stream.cancel()
        # the query runs in its worker process until its first rows exist: a cancel request or a client that
        # goes away meanwhile reaches it there (self.current), not after it ended
        try:
            await self.call(_schema_of, portal.stream)
        except Exception as error:
            await self.close_portal(portal)
            raise _wire_error(error, catalog=statement.kind is Kind.CATALOG) from None

    async def next_batch(self, portal: Portal) -> pa.RecordBatch | None:
        if portal.pending is not None:
            batch, portal.pending = portal.pending, None
            return batch
        assert portal.stream is not None
        try:
            return await self.call(next, portal.stream, None)
        except Exception as error:
            await self.close_portal(portal)
            raise _wire_error(error, catalog=portal.prepared.statement.kind is Kind.CATALOG) from None

    async def send_rows(self, portal: Portal, max_rows: int) -> bool:
        """Send rows (all, or up to ``max_rows``); True when the result is complete."""
        sent = 0
        while max_rows == 0 or sent < max_rows:
            batch = await self.next_batch(portal)
            if batch is None:
                return True
            if max_rows and batch.num_rows > max_rows - sent:
                portal.pending = batch.slice(max_rows - sent)
                batch = batch.slice(0, max_rows - sent)
            data = await asyncio.get_running_loop().run_in_executor(self.server.pool, encode_batch, batch,
                                                                    portal.formats)  # fmt: skip
            try:
                await self.send(data)
            except ClientGone:
                self.cancel()
                raise
            sent += batch.num_rows
            portal.sent += batch.num_rows
        if portal.pending is None:
            # peek: a result that ends exactly here is complete, not suspended
            batch = await self.next_batch(portal)
            if batch is None:
                return True
            portal.pending = batch
        return False

    async def copy_out(self, portal: Portal) -> None:
        assert portal.stream is not None
        binary = portal.prepared.statement.copy_binary
        columns = len(portal.stream.schema)
        await self.send(m.message(b"H", struct.pack("!bh", 1 if binary else 0, columns)
                                  + struct.pack("!h", 1 if binary else 0) * columns))  # fmt: skip
        # binary: header, rows and trailer travel in whole CopyData messages (libpq readers, ADBC's among them,
        # parse each message on its own), so the header goes with the first rows and the trailer with the last
        # as PostgreSQL does: one CopyData message per row (binary readers such as ADBC's parse each message as
        # one row), the file header in front of the first row, the trailer on its own
        header = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0) if binary else b""
        first = True
        loop = asyncio.get_running_loop()
        while (batch := await self.next_batch(portal)) is not None:
            if binary:
                rows = await loop.run_in_executor(self.server.pool, copy_binary_rows, batch)
                if rows and first:
                    rows[0], first = header + rows[0], False
                data = b"".join(m.message(b"d", row) for row in rows)
            else:
                data = m.message(b"d", await loop.run_in_executor(self.server.pool, _copy_text, batch))
            portal.sent += batch.num_rows
            await self.send(data)
        if binary:
            await self.send(m.message(b"d", (header if first else b"") + struct.pack("!h", -1)))
        await self.send(m.message(b"c") + m.command_complete(f"COPY {portal.sent}"))
        await self.close_portal(portal)

    # --- session commands -------------------------------------------------------------------------

    async def cursor_command(self, portal: Portal, *, describe: bool, execute: bool) -> None:
        statement = portal.prepared.statement
        cursor = self.cursors.get(statement.cursor)
        if cursor is None:
            raise WireError("34000", f'cursor "{statement.cursor}" does not exist')
        if statement.command == "CLOSE":
            if execute:
                await self.close_portal(self.cursors.pop(statement.cursor))
                await self.send(m.command_complete("CLOSE CURSOR"))
            elif describe:
                await self.send(m.message(b"n"))
            return
        assert cursor.stream is not None
        formats = portal.formats or cursor.formats
        if describe and not portal.described:
            portal.described = True
            await self.send(m.row_description(field_specs(cursor.stream.schema, formats)))
        if not execute:
            return
        before = cursor.sent
        cursor.formats = formats
        if not cursor.done and await self.send_rows(cursor, statement.count):
            cursor.done = True
        await self.send(m.command_complete(f"FETCH {cursor.sent - before}"))

    def session_schema(self, statement: Statement) -> pa.Schema | None:
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        show = _SHOW.match(statement.text)
        if statement.command == "FETCH" and statement.cursor in self.cursors:
            stream = self.cursors[statement.cursor].stream
            return stream.schema if stream is not None else None
        if statement.command == "SHOW" and show:
            return pa.schema([(_show_name(show.group(1)), pa.string())])
        return None

    async def session_command(self, portal: Portal, *, describe: bool, execute: bool) -> None:
        statement = portal.prepared.statement
        command = statement.command
        if command == "SHOW":
            show = _SHOW.match(statement.text)
            if not show:
                raise WireError("42601", "write SHOW name")
            name = _show_name(show.group(1))
            if describe and not portal.described:
                portal.described = True
                schema = self.session_schema(statement)
                assert schema is not None
                await self.send(m.row_description(field_specs(schema, portal.formats)))
            if execute:
                value = _DEFAULTS.get(name) if name not in self.settings else self.settings[name]
                if value is None:
                    raise WireError("42704", f'unrecognized configuration parameter "{name}"')
                await self.send(m.data_row([value.encode()]) + m.command_complete("SHOW"))
            return
        if command in ("FETCH", "CLOSE") and statement.cursor:
            await self.cursor_command(portal, describe=describe, execute=execute)
            return
        if describe and not execute:
            await self.send(m.message(b"n"))
            return
        tag = command
        if command in ("BEGIN", "START"):
            self.status, tag = (b"T" if self.status == b"I" else self.status), "BEGIN"
        elif command in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            tag = "ROLLBACK" if command in ("ROLLBACK", "ABORT") or self.status == b"E" else "COMMIT"
            self.status = b"I"
            await self.close_portals()
            for name in list(self.cursors):
                await self.close_portal(self.cursors.pop(name))
        elif command == "SET":
            setting = _SET.match(statement.text)
            if setting:
                self.settings[setting.group(1).lower()] = setting.group(2).strip().strip("'\"")
        elif command == "RESET":
            pass
        elif command == "DISCARD":
            tag = "DISCARD ALL"
        elif command == "DEALLOCATE":
            target = statement.text.split()[-1].strip(";").strip('"')
            if target.upper() == "ALL":
                self.prepared.clear()
            else:
                self.prepared.pop(target, None)
        await self.send(m.command_complete(tag))


_DEFAULTS = {
    "server_version": SERVER_VERSION, "server_version_num": "160000", "server_encoding": "UTF8",
    "client_encoding": "UTF8", "datestyle": "ISO, MDY", "timezone": "UTC", "integer_datetimes": "on",
    "standard_conforming_strings": "on", "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed", "transaction_read_only": "on",
    "default_transaction_read_only": "on", "search_path": '"$user", public', "max_identifier_length": "63",
    "lc_collate": "C", "lc_ctype": "C", "intervalstyle": "postgres", "application_name": "",
    "extra_float_digits": "1", "statement_timeout": "0", "bytea_output": "hex",
    "default_table_access_method": "heap", "max_index_keys": "32",
}  # fmt: skip


def _show_name(words: str) -> str:
    """``SHOW transaction isolation level`` asks for ``transaction_isolation``."""
    name = "_".join(words.lower().split())
    return {"transaction_isolation_level": "transaction_isolation", "time_zone": "timezone"}.get(name, name)


class _Answer:
    """A one-value result the server computes itself (no SQL runs for it)."""

    def __init__(self, name: str, value: bool) -> None:
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        table = pa.table({name: pa.array([value], pa.bool_())})
        self.schema: pa.Schema = table.schema
        self._batches = iter(table.to_batches())

    def __iter__(self) -> _Answer:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        self._batches = iter(())


def _names_tables(sql: str) -> bool:
    """Whether ``sql`` names any table (True when it does not parse: the catalog database reports it)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        return any(True for _ in sqlglot.parse_one(sql, read="postgres").find_all(exp.Table))
    except SqlglotError:
        return True


def _schema_of(stream: ResultStream) -> pa.Schema:
    return stream.schema


def _copy_text(batch: pa.RecordBatch) -> bytes:
    from meshplane.wire.values import _text_column

    columns = [_text_column(c).to_pylist() for c in batch.columns]
    lines = []
    for row in zip(*columns, strict=True):
        cells = ["\\N" if v is None else v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                 for v in row]  # fmt: skip
        lines.append("\t".join(cells) + "\n")
    return "".join(lines).encode()


def _wire_error(error: Exception, *, catalog: bool) -> WireError:
    """The SQLSTATE and message a client gets (the gateway's errors are already sanitised)."""
    if isinstance(error, WireError):
        return error
    if isinstance(error, UndefinedObject):
        return WireError("42P01", str(error))
    if isinstance(error, QueryCancelled):
        return WireError("57014", "canceling statement due to user request")
    if isinstance(error, QueryInterrupted):
        return WireError("57014", str(error))
    if isinstance(error, ResultTooLarge):
        return WireError("54000", str(error))
    if isinstance(error, AccessDenied):
        return WireError("42501", str(error))
    if isinstance(error, QueryRejected):
        return WireError("42000", str(error))
    if isinstance(error, MeshError):
        return WireError("XX000", str(error))
    if catalog:  # DuckDB's own error on a catalog query: the catalog database holds no data to leak
        return WireError("42000", str(error).split("\n", 1)[0])
    return WireError("XX000", "internal error; the query was not run")
