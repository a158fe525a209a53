"""Authentication of PostgreSQL clients: SCRAM-SHA-256 against the verifiers stored with API tokens (the
default), or the token as a cleartext password. A wrong, revoked or unknown token and an unknown user all get
the same answer, SQLSTATE 28P01, so the server never tells whether a user exists.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from meshplane.catalog import schema
from meshplane.wire import MeshBackend, WireConfig, WireServer, running
from wire.conftest import CONSUMER, OUTSIDER, OWNER, Wire

JDBC_JAR = Path("/usr/share/java/postgresql.jar")


@pytest.fixture(scope="module")
def plain(wire: Wire) -> Iterator[WireServer]:
    """The same mesh on loopback without TLS (SCRAM), to speak the protocol by hand."""
    with running(MeshBackend(wire.mesh), WireConfig(port=0)) as server:
        yield server


@pytest.fixture(scope="module")
def cleartext(wire: Wire) -> Iterator[WireServer]:
    """The same mesh, with the token as a cleartext password (platform.wire.auth: password) over TLS."""
    config = WireConfig(port=0, tls_cert=wire.cert, tls_key=wire.cert, auth="password")
    with running(MeshBackend(wire.mesh), config) as server:
        yield server


def _message(sock: socket.socket) -> tuple[bytes, bytes]:
    header = _read(sock, 5)
    return header[:1], _read(sock, struct.unpack("!i", header[1:])[0] - 4)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def _send(sock: socket.socket, kind: bytes, body: bytes) -> None:
    sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)


def scram_login(port: int, user: str, password: str) -> dict[str, str]:
    """Sign in with SCRAM-SHA-256 by hand: the fields of the server's final answer (R: its kind when accepted)."""
    import scramp  # type: ignore[import-untyped, unused-ignore]

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        params = b"user\x00" + user.encode() + b"\x00database\x00media\x00\x00"
        sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        kind, body = _message(sock)
        assert (kind, body[:4]) == (b"R", struct.pack("!i", 10)) and b"SCRAM-SHA-256\x00" in body
        client = scramp.ScramClient(["SCRAM-SHA-256"], "ignored", password)
        first = client.get_client_first().encode()
        _send(sock, b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first)
        kind, body = _message(sock)
        assert (kind, body[:4]) == (b"R", struct.pack("!i", 11))
        client.set_server_first(body[4:].decode())
        _send(sock, b"p", client.get_client_final().encode())
        kind, body = _message(sock)
        if kind == b"E":
            return {chr(f[0]): f[1:].decode() for f in body.split(b"\x00") if f}
        assert (kind, body[:4]) == (b"R", struct.pack("!i", 12))
        client.set_server_final(body[4:].decode())  # the server proves it holds the verifier too
        kind, body = _message(sock)
        assert (kind, body) == (b"R", struct.pack("!i", 0))
        return {"R": "ok"}


def test_scram_with_every_token_in_force(wire: Wire, plain: WireServer) -> None:
    assert scram_login(plain.port, CONSUMER, wire.tokens[CONSUMER]) == {"R": "ok"}
    second, _ = wire.mesh.access.create_token(CONSUMER, name="a second token")  # shares the user's SCRAM salt
    assert scram_login(plain.port, CONSUMER, second) == {"R": "ok"}
    assert scram_login(plain.port, CONSUMER, wire.tokens[CONSUMER]) == {"R": "ok"}


def test_refusals_look_alike(wire: Wire, plain: WireServer) -> None:
    revoked, info = wire.mesh.access.create_token(OUTSIDER, name="soon revoked")
    wire.mesh.access.revoke_token(OUTSIDER, info.id)
    refusals = {
        "wrong token": scram_login(plain.port, CONSUMER, "mpt_0123456789abcdef_wrong"),
        "someone else's token": scram_login(plain.port, CONSUMER, wire.tokens[OWNER]),
        "revoked token": scram_login(plain.port, OUTSIDER, revoked),
        "unknown user": scram_login(plain.port, "nobody", wire.tokens[CONSUMER]),
    }
    for case, fields in refusals.items():
        assert fields["C"] == "28P01", case
        assert fields["S"] == "FATAL", case
    users = {"wrong token": CONSUMER, "someone else's token": CONSUMER, "revoked token": OUTSIDER,
             "unknown user": "nobody"}  # fmt: skip
    messages = {fields["M"].replace(users[case], "USER") for case, fields in refusals.items()}
    assert messages == {'password authentication failed for user "USER"'}


def test_libpq_negotiates_scram(wire: Wire) -> None:
    dsn = wire.dsn(CONSUMER)
    with psycopg.connect(dsn + " require_auth=scram-sha-256") as conn:  # libpq refuses any other method
        assert conn.execute("SELECT current_user").fetchone() == (CONSUMER,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wire.dsn(CONSUMER, password="mpt_0123456789abcdef_wrong"))
    with pytest.raises(psycopg.OperationalError, match="SASL"):  # nothing but SCRAM is offered
        psycopg.connect(dsn + " require_auth=password")


def test_cleartext_over_tls_and_tokens_without_a_verifier(wire: Wire, cleartext: WireServer,
                                                          plain: WireServer) -> None:  # fmt: skip
    legacy, info = wire.mesh.access.create_token(OWNER, name="made before SCRAM verifiers")
    t = schema.api_tokens
    wire.mesh.platform.catalog._db.write(  # as a token made before migration 0008 is
        lambda conn: conn.execute(sa.update(t).where(t.c.id == info.id).values(scram_verifier=None))
    )
    assert scram_login(plain.port, OWNER, legacy)["C"] == "28P01"
    dsn = wire.dsn(OWNER, password=legacy).replace(str(wire.server.port), str(cleartext.port))
    with psycopg.connect(dsn + " require_auth=password") as conn:  # the token as a cleartext password
        assert conn.execute("SELECT current_user").fetchone() == (OWNER,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn.replace(legacy, "mpt_0123456789abcdef_wrong"))


JAVA = """
import java.sql.*;
import java.util.Properties;

public class Login {
    public static void main(String[] args) {
        for (int i = 1; i + 1 < args.length; i += 2) {
            Properties props = new Properties();
            props.setProperty("user", args[i]);
            props.setProperty("password", args[i + 1]);
            props.setProperty("sslmode", "require");
            try (Connection conn = DriverManager.getConnection(args[0], props);
                 ResultSet rs = conn.createStatement().executeQuery("SELECT current_user")) {
                rs.next();
                System.out.println("ok " + rs.getString(1));
            } catch (SQLException e) {
                System.out.println("refused " + e.getSQLState());
            }
        }
    }
}
"""


def test_jdbc_scram(wire: Wire, tmp_path: Path) -> None:
    assert JDBC_JAR.exists(), "needs Debian's libpostgresql-jdbc-java (.ci/run installs it)"
    (tmp_path / "Login.java").write_text(JAVA)
    subprocess.run(["javac", "-cp", str(JDBC_JAR), "Login.java"], cwd=tmp_path, check=True, timeout=120)
    url = f"jdbc:postgresql://127.0.0.1:{wire.server.port}/media"
    run = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{tmp_path}", "Login", url, CONSUMER, wire.tokens[CONSUMER],
                          CONSUMER, "mpt_0123456789abcdef_wrong", "nobody", wire.tokens[CONSUMER]],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == [f"ok {CONSUMER}", "refused 28P01", "refused 28P01"]
