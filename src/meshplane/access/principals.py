"""Who is who in a mesh: users and teams from ``mesh.yaml``, and each consumer's hashing key.

A user is known when ``mesh.yaml`` names them, as a team member or in ``users``, or when the company's identity
provider put them in a team at their last sign-in (``sign_in: group_teams``, until that sign-in expires);
everyone else is refused before any decision is made. A principal carries the teams it belongs to and whether
it belongs to the mesh's governance or platform team. Nothing here is trusted from the caller: every principal
is built from the mesh's own files and what the provider's verified ID token said at sign-in.

The consumer key (the salt of the ``hash`` mask) is ``HMAC-SHA256(secret, username)``, where ``secret`` is
32 random bytes kept in ``<mesh>/.meshplane/access.secret`` (created on first use, mode 0600): a consumer's
hashes join within its own queries, never across consumers, and cannot be recomputed without the file.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from meshplane.catalog import PRODUCT_GRANTEE
from meshplane.errors import AccessDenied, UsageError
from meshplane.spec import MeshSpec
from meshplane.types import Principal

__all__ = [
    "SECRET_FILE",
    "USER_ENV",
    "Directory",
    "acting_user",
    "consumer_key",
    "load_secret",
    "local_user",
]

USER_ENV = "MESHPLANE_USER"
SECRET_FILE = "access.secret"
_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$")


@dataclass(frozen=True)
class Directory:
    """The users and teams of one mesh, with its governance and platform teams."""

    teams: Mapping[str, frozenset[str]]
    """team name -> usernames"""
    users: frozenset[str]
    domain_owners: Mapping[str, str]
    """domain name -> owner team"""
    governance_team: str | None = None
    platform_team: str | None = None
    signed_in: Callable[[str], frozenset[str]] | None = None
    """The teams the company's identity provider vouched for at a person's last sign-in, still in force
    (``sign_in: group_teams`` in mesh.yaml, recorded in the catalog); None when mesh.yaml maps no group."""

    @classmethod
    def from_spec(cls, spec: MeshSpec, *, signed_in: Callable[[str], frozenset[str]] | None = None) -> Directory:
        config = spec.config
        teams = {team.name: frozenset(m.username for m in team.members) for team in config.teams}
        users = frozenset(u.username for u in config.users).union(*teams.values())
        return cls(
            teams=MappingProxyType(teams),
            users=users,
            domain_owners=MappingProxyType({d.name: d.config.owner for d in spec.domains}),
            governance_team=config.governance_team,
            platform_team=config.platform_team,
            signed_in=signed_in if config.sign_in.group_teams else None,
        )

    def provided_teams(self, username: str) -> frozenset[str]:
        """Declared teams the identity provider's groups give ``username`` now (empty without a mapping)."""
        if self.signed_in is None or not _USERNAME.match(username):
            return frozenset()
        return frozenset(team for team in self.signed_in(username) if team in self.teams)

    def is_known(self, username: str) -> bool:
        return username in self.users or bool(self.provided_teams(username))

    def members(self, team: str | None) -> frozenset[str]:
        """The team's members as mesh.yaml declares them (those the identity provider adds are not listed)."""
        return self.teams.get(team, frozenset()) if team else frozenset()

    def teams_of(self, username: str) -> frozenset[str]:
        declared = frozenset(name for name, members in self.teams.items() if username in members)
        return declared | self.provided_teams(username)

    def principal(self, username: str) -> Principal:
        """The principal named ``username``; AccessDenied when ``mesh.yaml`` does not know them."""
        if not isinstance(username, str) or not self.is_known(username):
            shown = username if isinstance(username, str) and _USERNAME.match(username) else "this user"
            raise AccessDenied(
                f"{shown} is not a user of this mesh; add them to a team in mesh.yaml to give them access"
            )
        teams = self.teams_of(username)
        return Principal(
            username=username,
            teams=teams,
            is_platform_admin=self.platform_team is not None and self.platform_team in teams,
            is_governance=self.governance_team is not None and self.governance_team in teams,
        )

    def in_any(self, principal: Principal, teams: Iterable[str | None]) -> bool:
        """Whether ``principal`` is a member of one of ``teams`` (checked against mesh.yaml, not the principal).

        A product principal belongs to its owner team only (set by :meth:`product_principal` from the spec)."""
        if principal.product is not None:
            return any(team is not None and team in principal.teams for team in teams)
        if any(principal.username in self.members(team) for team in teams):
            return True
        provided = self.provided_teams(principal.username)
        return any(team is not None and team in provided for team in teams)

    def product_principal(self, product: str, owner_team: str) -> Principal:
        """The principal a product's build reads as: ``product:<domain>.<product>``, in its owner team only.

        User names cannot contain a colon, so no person can be this principal."""
        return Principal(username=PRODUCT_GRANTEE + product, teams=frozenset({owner_team}), product=product)


def acting_user(explicit: str | None = None) -> str | None:
    """The user a command acts as: ``explicit`` (``--as``), else ``$MESHPLANE_USER``, else None."""
    chosen = explicit if explicit else os.environ.get(USER_ENV) or None
    if chosen is not None and not _USERNAME.match(chosen):
        raise UsageError(f"{chosen!r} is not a valid user name")
    return chosen


def local_user(explicit: str | None = None) -> str:
    """The acting user, falling back to the operating-system user (for audit records of local commands)."""
    chosen = acting_user(explicit)
    if chosen:
        return chosen
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers without a passwd entry)
        return "unknown"


def load_secret(state_dir: Path) -> bytes:
    """The mesh's access secret from ``state_dir/access.secret``, created (0600) on first use."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / SECRET_FILE
    if not path.exists() and not path.is_symlink():
        # write a private temporary file, then link it into place: readers never see a half-written secret
        temporary = state_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    if path.is_symlink():
        raise AccessDenied(f"{path} is a symbolic link; refusing to read the access secret through it")
    text = path.read_text(encoding="ascii").strip()
    if len(text) != 64:
        raise AccessDenied(f"{path} does not hold a valid access secret; delete it to create a new one")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise AccessDenied(f"{path} does not hold a valid access secret; delete it to create a new one") from None


def consumer_key(secret: bytes, username: str) -> str:
    """The per-consumer hashing key: HMAC-SHA256 of the username under the mesh's secret."""
    return hmac.new(secret, username.encode("utf-8"), hashlib.sha256).hexdigest()
