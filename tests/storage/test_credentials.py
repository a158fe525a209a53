"""Per-domain builder credentials (storage.credentials): the policy's scope and the refusals that need no
server. tests/workspace/test_domain_credentials.py enforces them against S3 with IAM and PostgreSQL."""

from __future__ import annotations

import pytest

from meshplane.errors import UsageError
from meshplane.storage.credentials import domain_write_role, grant_builder, s3_builder_policy
from meshplane.storage.objectstore import S3Location


def _actions(policy: dict[str, object], resource: str) -> set[str]:
    statements = policy["Statement"]
    assert isinstance(statements, list)
    return {a for s in statements if resource in s["Resource"] for a in s["Action"]}


def test_the_builder_writes_only_below_its_domain_and_reads_the_warehouse() -> None:
    policy = s3_builder_policy(S3Location("northwind", "media"), "podcasts")
    assert _actions(policy, "arn:aws:s3:::northwind/media/podcasts/*") == {
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    }
    assert _actions(policy, "arn:aws:s3:::northwind/media/*") == {"s3:GetObject"}
    assert _actions(policy, "arn:aws:s3:::northwind") == {"s3:ListBucket"}
    everything = {r for s in policy["Statement"] for r in s["Resource"]}
    assert not any("royalties" in r for r in everything)
    # A warehouse at the bucket's root: the domain's folder is at the top.
    root = s3_builder_policy(S3Location("northwind", ""), "podcasts")
    assert _actions(root, "arn:aws:s3:::northwind/podcasts/*") == {
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    }


@pytest.mark.parametrize("domain", ["Podcasts", "pod/casts", "x*", "royalties/../podcasts", ""])
def test_a_domain_name_that_could_widen_the_policy_is_refused(domain: str) -> None:
    with pytest.raises(UsageError, match="invalid domain name"):
        s3_builder_policy(S3Location("northwind", "media"), domain)


def test_writer_roles_are_per_catalog_database() -> None:
    assert domain_write_role("podcasts", "prod") != domain_write_role("podcasts", "staging")
    with pytest.raises(UsageError, match="63 bytes"):
        domain_write_role("a" * 40, "b" * 30)


def test_granting_needs_a_postgresql_catalog_and_a_plain_role_name() -> None:
    with pytest.raises(UsageError, match="need the catalog on PostgreSQL"):
        grant_builder("sqlite:///catalog.db", "podcasts", "podcasts_ci")
    with pytest.raises(UsageError, match="invalid PostgreSQL role name"):
        grant_builder("postgresql://postgres@127.0.0.1/test", "podcasts", 'ci"; DROP TABLE x; --')
    with pytest.raises(UsageError, match="must name a database"):
        grant_builder("postgresql://postgres@127.0.0.1/te'st", "podcasts", "podcasts_ci")
