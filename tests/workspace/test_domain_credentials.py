"""Per-domain builder credentials that the storage enforces (issue #14: "a domain's builder can write only its
own domain's tables").

moto's S3 server runs here with IAM enforcement on: every request must be signed by an IAM user's key and is
allowed by that user's policy. Each domain's CI gets the key `meshplane platform s3-policy DOMAIN` describes
and a PostgreSQL role `meshplane platform grant-builder DOMAIN ROLE` set up. A builder then publishes its own
domain, but cannot publish another domain's product: with the wrong storage key the bucket refuses the files,
with the wrong catalog role the database refuses the table pointer; either way the product stays as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import split_repos_module, start_moto_server

from meshplane.storage import TableId

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
MESHPLANE = Path(sys.executable).parent / "meshplane"
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
EVENTS = "podcasts.listening_events.listening_events"
DOMAINS = ("podcasts", "films", "royalties")  # royalties reads the other two
PAYOUTS = TableId.for_port("royalties", "creator_payouts", "monthly_payouts", 1)


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class IamS3:
    endpoint: str
    platform: Key

    def client(self, service: str, key: Key) -> Any:
        import boto3  # type: ignore[import-untyped, unused-ignore]

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        )

    def user_with_policy(self, name: str, policy: dict[str, Any]) -> Key:
        iam = self.client("iam", self.platform)
        iam.create_user(UserName=name)
        document = json.dumps(_as_moto_names(policy))
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=document)
        created = iam.create_access_key(UserName=name)["AccessKey"]
        return Key(created["AccessKeyId"], created["SecretAccessKey"])


# moto checks some requests against the API operation's name where AWS uses a shared permission: listing is
# s3:ListBucket on AWS but s3:ListObjectsV2 in moto, a multipart upload s3:PutObject but s3:UploadPart (...).
# The same resources get the moto names too; nothing is granted that the AWS policy does not grant.
_MOTO_ALIASES = {
    "s3:ListBucket": ["s3:ListObjects", "s3:ListObjectsV2"],
    "s3:GetObject": ["s3:HeadObject"],
    "s3:PutObject": ["s3:CreateMultipartUpload", "s3:UploadPart", "s3:CompleteMultipartUpload"],
}
# A batch delete is authorised on the bucket first (s3:DeleteObjects), then per key as s3:DeleteObject.
_MOTO_BUCKET_ALIASES = {"s3:DeleteObject": ["s3:DeleteObjects"]}


def _as_moto_names(policy: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = list(statement["Action"])
        actions += [alias for action in statement["Action"] for alias in _MOTO_ALIASES.get(action, [])]
        statements.append({**statement, "Action": actions})
        on_bucket = [alias for action in statement["Action"] for alias in _MOTO_BUCKET_ALIASES.get(action, [])]
        if on_bucket:
            bucket = statement["Resource"][0].split("/", 1)[0]
            statements.append({"Effect": "Allow", "Action": on_bucket, "Resource": [bucket]})
    return {**policy, "Statement": statements}


@pytest.fixture
def iam_s3() -> Iterator[IamS3]:
    """An S3 API on loopback that checks every request against IAM (moto: INITIAL_NO_AUTH_ACTION_COUNT)."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    # The first three requests (creating the platform team's IAM user, its policy and its key) run unsigned.
    process, endpoint = start_moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")  # fmt: skip
        iam.create_user(UserName="platform")
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="platform", PolicyName="all", PolicyDocument=json.dumps(everything))
        created = iam.create_access_key(UserName="platform")["AccessKey"]
        yield IamS3(endpoint, Key(created["AccessKeyId"], created["SecretAccessKey"]))
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def catalog_db() -> Iterator[tuple[str, str]]:
    """A fresh catalog database and a suffix for cluster-wide role names; both dropped afterwards."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    name = f"i14_credentials_{suffix}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        for domain in DOMAINS:
            conn.execute(f'CREATE ROLE "{domain}_ci_{suffix}" LOGIN')
    try:
        yield name, suffix
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for domain in DOMAINS:
                conn.execute(f'DROP ROLE IF EXISTS "{domain}_ci_{suffix}"')
                conn.execute(f'DROP ROLE IF EXISTS "meshplane_publishes_{domain}@{name}"')


def _env(s3: IamS3, key: Key, catalog_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=s3.endpoint, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=key.access_key_id,
               AWS_SECRET_ACCESS_KEY=key.secret_access_key, MESHPLANE_CATALOG_URL=catalog_url)  # fmt: skip
    return env


def run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MESHPLANE), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _current_snapshot(repo: Path, env: dict[str, str]) -> int | None:
    probe = (
        "import sys; from meshplane.workspace import Mesh; from meshplane.storage import TableId\n"
        "with Mesh.open(sys.argv[1]) as mesh:\n"
        f"    current = mesh.platform.tables.current(TableId({PAYOUTS.namespace!r}, {PAYOUTS.name!r}))\n"
        "    print(current.snapshot_id if current else 'none')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(repo)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip().splitlines()[-1]
    return None if text == "none" else int(text)


def test_each_domains_credentials_publish_only_that_domain(
    iam_s3: IamS3, catalog_db: tuple[str, str], tmp_path: Path
) -> None:
    database, suffix = catalog_db
    owner_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    bucket = f"mesh-{suffix}"
    iam_s3.client("s3", iam_s3.platform).create_bucket(Bucket=bucket)
    data = tmp_path / "data"
    subprocess.run([sys.executable, str(EXAMPLE / "generate.py"), "--scale", "0.01", "--out", str(data)],
                   check=True, capture_output=True)  # fmt: skip
    repos: dict[str, Path] = split_repos_module().split(tmp_path / "repos", f"s3://{bucket}/media", data)
    platform = _env(iam_s3, iam_s3.platform, owner_url)

    # The platform team publishes governance and sets up each domain's builder: an IAM key and a catalog role.
    _ok(run(repos["governance"], platform, "publish"))
    keys: dict[str, Key] = {}
    for domain in DOMAINS:
        policy = json.loads(_ok(run(repos["platform"], platform, "platform", "s3-policy", domain)))
        writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
        assert [w["Resource"] for w in writes] == [[f"arn:aws:s3:::{bucket}/media/{domain}/*"]]
        keys[domain] = iam_s3.user_with_policy(f"{domain}-ci", policy)
        _ok(run(repos["platform"], platform, "platform", "grant-builder", domain, f"{domain}_ci_{suffix}"))
    builder = {d: _env(iam_s3, keys[d], f"postgresql://{d}_ci_{suffix}@127.0.0.1:5432/{database}") for d in keys}

    # Each domain's CI builds its own domain with its own credentials.
    assert "success" in _ok(run(repos["podcasts"], builder["podcasts"], "build"))
    assert "success" in _ok(run(repos["films"], builder["films"], "build"))
    asked = _ok(run(repos["royalties"], builder["royalties"], "agreement", "request", "royalties.creator_payouts",
                    EVENTS, "--as", "julia"))  # fmt: skip
    agreement = asked.split("agreement ", 1)[1].split(":", 1)[0]
    _ok(run(repos["podcasts"], builder["podcasts"], "agreement", "approve", agreement, "--as", "amelie"))
    assert "success" in _ok(run(repos["royalties"], builder["royalties"], "build"))
    published = _current_snapshot(repos["royalties"], platform)
    assert published is not None

    # podcasts' storage key cannot publish royalties' product: the bucket refuses the files.
    wrong_key = {**builder["royalties"], **{k: v for k, v in builder["podcasts"].items() if k.startswith("AWS_")}}
    refused = run(repos["royalties"], wrong_key, "build", "royalties.creator_payouts", "--full-refresh")
    assert refused.returncode != 0
    assert "AccessDenied" in refused.stdout + refused.stderr or "Access Denied" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr and "internal error" not in refused.stdout + refused.stderr
    assert _current_snapshot(repos["royalties"], platform) == published

    # podcasts' catalog role cannot move royalties' table pointer, even holding a key that may write the files.
    wrong_role = {**builder["royalties"], "MESHPLANE_CATALOG_URL": builder["podcasts"]["MESHPLANE_CATALOG_URL"]}
    refused = run(repos["royalties"], wrong_role, "build", "royalties.creator_payouts", "--full-refresh")
    assert refused.returncode != 0
    assert "may not publish the royalties domain's tables" in refused.stdout + refused.stderr
    assert "internal error" not in refused.stdout + refused.stderr
    assert _current_snapshot(repos["royalties"], platform) == published

    # Its own credentials still publish it; and the pointer rows themselves refuse a direct write.
    assert "success" in _ok(run(repos["royalties"], builder["royalties"], "build", "royalties.creator_payouts",
                                "--full-refresh"))  # fmt: skip
    assert _current_snapshot(repos["royalties"], platform) != published
    import psycopg

    with psycopg.connect(builder["podcasts"]["MESHPLANE_CATALOG_URL"], autocommit=True) as conn:
        moved = conn.execute(
            "UPDATE iceberg_tables SET metadata_location = 's3://elsewhere' WHERE table_namespace = 'royalties'"
        )
        assert moved.rowcount == 0
        own = conn.execute("SELECT count(*) FROM iceberg_tables WHERE table_namespace = 'podcasts'").fetchone()
        assert own is not None and own[0] > 0
