"""A built copy of the media example served over the PostgreSQL wire protocol, with TLS, and its personas.

raj (royalties analyst) holds a grant on the restricted listening events with a row filter (GB only) and
the e-mail and IP masks; bilal is an engineer of the owning team; kofi holds no grant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshplane.wire import MeshBackend, WireConfig, WireServer, running
from meshplane.workspace import Mesh
from server.helpers import copy_media

EVENTS = "podcasts.listening_events.listening_events"
CONSUMER, OWNER, OUTSIDER = "raj", "bilal", "kofi"


@dataclass
class Wire:
    mesh: Mesh
    server: WireServer
    tokens: dict[str, str]
    cert: Path

    def dsn(self, user: str, *, password: str | None = None, sslmode: str = "require") -> str:
        secret = self.tokens[user] if password is None else password
        return (f"host=127.0.0.1 port={self.server.port} dbname=media user={user} password={secret} "
                f"sslmode={sslmode}")  # fmt: skip


def self_signed(directory: Path) -> Path:
    """A certificate and key for 127.0.0.1 in one PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))  # fmt: skip
    path = directory / "server.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = copy_media(tmp_path_factory.mktemp("wire"), scale=0.02)
    with Mesh.open(root) as mesh:
        access = mesh.access
        request = access.request_access(CONSUMER, EVENTS, "monthly royalty statements for UK shows")
        access.approve("amelie", request.id, "country_code = 'GB'")
        yield mesh
        access.close()


@pytest.fixture(scope="session")
def wire(media: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    cert = self_signed(tmp_path_factory.mktemp("tls"))
    tokens = {
        u: media.platform.catalog.writer.create_token(u, name="wire tests")[0] for u in (CONSUMER, OWNER, OUTSIDER)
    }
    config = WireConfig(port=0, tls_cert=cert, tls_key=cert, catalog_ttl=0.0)
    with running(MeshBackend(media), config) as server:
        yield Wire(media, server, tokens, cert)
