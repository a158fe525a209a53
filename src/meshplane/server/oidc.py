"""Portal sign-in with the company's identity provider: OpenID Connect, authorization code flow with PKCE (S256).

Authlib's OAuth 2 client builds the authorization URL and exchanges the code; the ID token is verified with the
provider's published keys (joserfc, which Authlib uses): issuer, audience, expiry and the nonce of this sign-in.
The user is the mesh user named by a configured claim (``preferred_username`` by default). With ``sign_in:
group_teams`` in mesh.yaml, the groups the ID token lists (``groups_claim``) make the person a member of the
mapped teams until this session expires (recorded in the catalog; the next sign-in replaces them): a person the
mesh does not declare is known through those teams. Anyone else the mesh does not know is refused, never created.
A session is an ordinary API token of that user (expiring, revocable, listed on their tokens page), so tools keep
using tokens. Configuration comes from the environment of ``meshplane serve``:

    MESHPLANE_OIDC_ISSUER         https://login.example.com/realms/data   (its /.well-known/openid-configuration)
    MESHPLANE_OIDC_CLIENT_ID      meshplane
    MESHPLANE_OIDC_CLIENT_SECRET  (a confidential client; empty for a public client: PKCE alone)
    MESHPLANE_OIDC_USER_CLAIM     preferred_username (or email, sub, ...)
    MESHPLANE_OIDC_NAME           the button's label ("Sign in with NAME")
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from meshplane.errors import UsageError
from meshplane.server.auth import SESSION_COOKIE, Rule, allow, discovery
from meshplane.server.portal import _safe_next, error_page
from meshplane.types import Principal

__all__ = ["OidcSettings", "router"]

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, allow(Rule.PUBLIC)]

STATE_COOKIE = "meshplane_oidc"
PENDING_TTL_S = 600.0
DISCOVERY_TTL_S = 3600.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str = ""
    user_claim: str = "preferred_username"
    name: str = "single sign-on"
    scope: str = "openid profile email"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OidcSettings | None:
        values = os.environ if env is None else env
        issuer, client = values.get("MESHPLANE_OIDC_ISSUER", ""), values.get("MESHPLANE_OIDC_CLIENT_ID", "")
        if not issuer or not client:
            return None
        return cls(issuer.rstrip("/"), client, values.get("MESHPLANE_OIDC_CLIENT_SECRET", ""),
                   values.get("MESHPLANE_OIDC_USER_CLAIM") or "preferred_username",
                   values.get("MESHPLANE_OIDC_NAME") or "single sign-on")  # fmt: skip


class OidcFlow:
    """One per app: the provider's metadata (cached); builds the authorization URL and finishes a sign-in."""

    def __init__(self, settings: OidcSettings) -> None:
        try:
            import authlib  # noqa: F401  (checked at start-up, not at the first sign-in)
        except ImportError:
            raise UsageError("OpenID Connect sign-in needs Authlib: pip install 'meshplane[oidc]'") from None
        self.settings = settings
        self._metadata: tuple[float, dict[str, Any]] | None = None

    def metadata(self) -> dict[str, Any]:
        import httpx

        if self._metadata is None or self._metadata[0] < time.monotonic():
            url = f"{self.settings.issuer}/.well-known/openid-configuration"
            found = httpx.get(url, timeout=10.0).raise_for_status().json()
            if found.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise ValueError(f"{url} names issuer {found.get('issuer')!r}, not {self.settings.issuer!r}")
            self._metadata = (time.monotonic() + DISCOVERY_TTL_S, found)
        return self._metadata[1]

    def client(self, redirect_uri: str) -> Any:
        from authlib.integrations.httpx_client import OAuth2Client

        secret = self.settings.client_secret or None
        return OAuth2Client(self.settings.client_id, secret, scope=self.settings.scope, redirect_uri=redirect_uri,
                            code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_basic" if secret else "none")  # fmt: skip

    def begin(self, redirect_uri: str, next_url: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the cookie that carries this sign-in (state, PKCE
        verifier, nonce, where to go next) in the browser itself: any worker process can finish it."""
        from authlib.common.security import generate_token

        state, verifier, nonce = secrets.token_urlsafe(24), generate_token(64), secrets.token_urlsafe(16)
        url, _ = self.client(redirect_uri).create_authorization_url(
            self.metadata()["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce)  # fmt: skip
        pending = {"state": state, "verifier": verifier, "nonce": nonce, "next": next_url}
        return url, base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()

    def finish(self, redirect_uri: str, cookie: str, state: str, code: str) -> tuple[dict[str, Any], str]:
        """Exchange the code (with the PKCE verifier), verify the ID token; its claims and where to go next."""
        from joserfc import jwt
        from joserfc.jwk import KeySet

        try:
            pending = json.loads(base64.urlsafe_b64decode(cookie.encode()))
        except ValueError:
            pending = {}
        if not isinstance(pending, dict) or not state or not secrets.compare_digest(str(pending.get("state")), state):
            raise ValueError("this sign-in did not start in this browser; start again")
        metadata = self.metadata()
        token = self.client(redirect_uri).fetch_token(metadata["token_endpoint"], grant_type="authorization_code",
                                                      code=code, code_verifier=str(pending["verifier"]))  # fmt: skip
        if "id_token" not in token:
            raise ValueError("the identity provider returned no ID token (is the 'openid' scope allowed?)")
        import httpx

        keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10.0).raise_for_status().json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=metadata.get("id_token_signing_alg_values_supported"))
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            nonce={"essential": True, "value": str(pending["nonce"])},
            exp={"essential": True},
        )
        registry.validate(decoded.claims)
        return dict(decoded.claims), _safe_next(str(pending.get("next", "/")))


def _flow(request: Request) -> OidcFlow | None:
    flow: OidcFlow | None = getattr(request.app.state, "oidc", None)
    return flow


def _callback_uri(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _back_to_login(message: str, next_url: str = "/") -> Response:
    return RedirectResponse(f"/login?next={quote(next_url)}&error=" + quote(message), status_code=303)


@router.get("/login/oidc")
def oidc_begin(request: Request, who: Anyone, next: str = "/") -> Response:
    flow = _flow(request)
    if flow is None:
        return error_page(request, 404, "single sign-on is not configured on this server")
    try:
        url, pending = flow.begin(_callback_uri(request), _safe_next(next))
    except Exception as error:  # the provider is down or misconfigured: say so on the sign-in page
        return _back_to_login(f"the identity provider cannot be reached: {type(error).__name__}")
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
    response.set_cookie(STATE_COOKIE, pending, httponly=True, samesite="lax", path="/login/oidc",
                        max_age=int(PENDING_TTL_S))  # fmt: skip
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
def oidc_callback(request: Request, who: Anyone, state: str = "", code: str = "", error: str = "") -> Response:
    flow = _flow(request)
    if flow is None:
        return error_page(request, 404, "single sign-on is not configured on this server")
    if error:
        return _back_to_login(f"the identity provider refused the sign-in: {error}")
    cookie = request.cookies.get(STATE_COOKIE)
    if not cookie or not state or not code:
        return _back_to_login("this sign-in did not start in this browser; start again")
    try:
        claims, target = flow.finish(_callback_uri(request), cookie, state, code)
    except Exception as error:  # an invalid token, a replayed state, a provider error: never a session
        return _back_to_login(f"sign-in failed: {error}")
    username = claims.get(flow.settings.user_claim)
    service = discovery(request)
    config = service.graph.spec.config
    until = datetime.now(UTC) + timedelta(days=config.platform.token_days)  # the session's and its teams' expiry
    if isinstance(username, str) and username:
        try:  # the groups the provider lists, mapped onto teams by mesh.yaml's sign_in: (nothing without one)
            service.access.record_sign_in(username, claims.get(config.sign_in.groups_claim), until)
        except UsageError as error:
            return _back_to_login(f"sign-in failed: {error}")
        service.forget_principal(username)
    if not isinstance(username, str) or service.principal(username) is None:
        return _back_to_login(f"{username or 'this account'} is not a user of this mesh; ask the platform team")
    session, _ = service.access.create_token(username, name=f"portal sign-in ({flow.settings.name})", expires_at=until)
    # A page, not a redirect: the session cookie is SameSite=Strict, which the browser would not send on a
    # redirect chain that began at the provider; a same-site navigation from here carries it.
    go = escape(target)
    page = (f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={go}">'
            f'<title>Signed in</title><p>Signed in as {escape(username)}. <a href="{go}">Continue</a></p>')  # fmt: skip
    response = HTMLResponse(page)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", path="/")
    response.delete_cookie(STATE_COOKIE, path="/login/oidc")
    return response
