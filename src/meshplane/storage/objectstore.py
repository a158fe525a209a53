"""Where a warehouse lives: a local folder, or a prefix in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2).

``platform.warehouse: s3://bucket/prefix`` puts every table's metadata and data files in object storage.
Endpoint, region and credentials come from the standard AWS environment variables (``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) or from a named connection whose
environment variable holds ``http(s)://KEY:SECRET@host:port?region=...``. Only platform processes (builders,
the gateway, the server) read them; they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from meshplane.errors import StorageError

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem  # type: ignore[import-untyped, unused-ignore]

__all__ = ["S3Location", "is_remote", "s3_location"]


def is_remote(location: str) -> bool:
    return location.startswith("s3://")


@dataclass(frozen=True)
class S3Location:
    """A bucket prefix and how to reach it. The secret stays out of ``repr`` and equality."""

    bucket: str
    prefix: str
    endpoint: str | None = None  # http://127.0.0.1:9000; None: AWS's own endpoint for the region
    region: str = "us-east-1"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False, compare=False)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def child(self, *parts: str) -> str:
        return "/".join([self.uri, *parts])

    def key_of(self, uri: str) -> str:
        """``bucket/key`` of an ``s3://`` URI under this location (pyarrow's file-system path)."""
        if not uri.startswith(f"s3://{self.bucket}/"):
            raise StorageError(f"{uri} is not in the warehouse bucket {self.bucket}")
        return uri.removeprefix("s3://")

    @property
    def use_ssl(self) -> bool:
        return self.endpoint is None or self.endpoint.startswith("https://")

    @property
    def host(self) -> str | None:
        """``host:port`` of a custom endpoint (what DuckDB's ENDPOINT wants)."""
        return None if self.endpoint is None else urlparse(self.endpoint).netloc

    def pyiceberg_properties(self) -> dict[str, str]:
        """pyiceberg's FileIO settings (path-style addressing, which every S3-compatible store accepts)."""
        props = {"s3.region": self.region, "s3.force-virtual-addressing": "false"}
        if self.endpoint:
            props["s3.endpoint"] = self.endpoint
        if self.access_key_id:
            props["s3.access-key-id"] = self.access_key_id
        if self.secret_access_key:
            props["s3.secret-access-key"] = self.secret_access_key
        return props

    def filesystem(self) -> S3FileSystem:
        """A pyarrow S3 file system for listing, reading and deleting objects of this location."""
        from pyarrow import fs

        kwargs: dict[str, Any] = {"region": self.region}
        if self.endpoint:
            kwargs["endpoint_override"] = self.host
            kwargs["scheme"] = "https" if self.use_ssl else "http"
        if self.access_key_id:
            kwargs["access_key"] = self.access_key_id
            kwargs["secret_key"] = self.secret_access_key
        return fs.S3FileSystem(**kwargs)


def s3_location(warehouse: str, env: Mapping[str, str] | None = None, connection: str | None = None) -> S3Location:
    """The S3 location of ``warehouse`` (``s3://bucket/prefix``), reached as the AWS variables in ``env`` say,
    or as the URL in ``connection`` (``http(s)://KEY:SECRET@host:port?region=R``) says."""
    parsed = urlparse(warehouse)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"warehouse {warehouse!r}: write s3://BUCKET/PREFIX")
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    values = os.environ if env is None else env
    if connection:
        url = urlparse(connection)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StorageError(
                "the warehouse connection must be a URL like https://KEY:SECRET@host:port?region=eu-west-1"
            )
        region = parse_qs(url.query).get("region", [values.get("AWS_REGION") or "us-east-1"])[0]
        netloc = url.hostname + (f":{url.port}" if url.port else "")
        return S3Location(
            bucket,
            prefix,
            endpoint=f"{url.scheme}://{netloc}",
            region=region,
            access_key_id=unquote(url.username) if url.username else None,
            secret_access_key=unquote(url.password) if url.password else None,
        )
    return S3Location(
        bucket,
        prefix,
        endpoint=values.get("AWS_ENDPOINT_URL_S3") or values.get("AWS_ENDPOINT_URL") or None,
        region=values.get("AWS_REGION") or values.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=values.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=values.get("AWS_SECRET_ACCESS_KEY") or None,
    )
