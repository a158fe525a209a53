"""A real OpenID Connect provider for the sign-in tests: Authlib's authorization server (authorization code grant,
OpenID Connect ID tokens signed RS256, PKCE required) on Flask, served by werkzeug on a loopback port.

Its sign-in page is a form asking for a username (any name: the provider vouches for whoever types it, so the
tests can also present a person the mesh does not know)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in {"openid", "profile", "email"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Provider:
    url: str
    client: Client
    codes: dict[str, Code]  # issued and not yet redeemed
    challenges: list[tuple[str | None, str | None]]  # (code_challenge, method) of every authorization
    groups: dict[str, list[str]]  # username -> the groups its ID tokens list (the "groups" claim); set by tests


def _app(issuer_box: list[str], client: Client, key: RSAKey, provider: dict[str, Any]) -> Flask:
    app = Flask("oidc-provider")
    codes: dict[str, Code] = provider["codes"]

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data
            provider["challenges"].append((data.get("code_challenge"), data.get("code_challenge_method")))
            challenge = (data.get("code_challenge"), data.get("code_challenge_method"))
            codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri, req.scope, req.user,
                               data.get("nonce"), *challenge)  # fmt: skip

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return authorization_code.user

    class IdTokens(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, req: Any) -> bool:
            return any(c.nonce == nonce for c in codes.values())

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            return {"iss": issuer_box[0], "aud": [client.client_id]}

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": key.kid or ""}

        def generate_user_info(self, user: str, scope: str) -> UserInfo:
            info = UserInfo(sub=f"sub-{user}", preferred_username=user, email=f"{user}@example.com")
            if user in provider["groups"]:
                info["groups"] = provider["groups"][user]
            return info

    server = AuthorizationServer(app, query_client=lambda cid: client if cid == client.client_id else None,
                                 save_token=lambda token, req: None)  # fmt: skip
    server.register_grant(CodeGrant, [IdTokens(require_nonce=True), CodeChallenge(required=True)])

    @app.get("/.well-known/openid-configuration")
    def configuration() -> Any:
        base = issuer_box[0]
        return jsonify(issuer=base, authorization_endpoint=f"{base}/authorize", token_endpoint=f"{base}/token",
                       jwks_uri=f"{base}/jwks", response_types_supported=["code"], subject_types_supported=["public"],
                       id_token_signing_alg_values_supported=["RS256"],
                       code_challenge_methods_supported=["S256"])  # fmt: skip

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(keys=[key.as_dict(private=False)])

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        if request.method == "GET":  # the provider's own sign-in page
            return ('<form method="post"><label for="who">Username</label><input id="who" name="username">'
                    '<button id="provider-sign-in" type="submit">Sign in</button></form>')  # fmt: skip
        return server.create_authorization_response(grant_user=request.form["username"])

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    return app


@contextmanager
def oidc_provider(redirect_uri: str, *, client_id: str = "meshplane", secret: str = "s3cret") -> Iterator[Provider]:
    """The provider on 127.0.0.1 (an ephemeral port), with one confidential client."""
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key"}, private=True)
    client = Client(client_id, secret, redirect_uri)
    box: list[str] = [""]
    state: dict[str, Any] = {"codes": {}, "challenges": [], "groups": {}}
    server = make_server("127.0.0.1", 0, _app(box, client, key, state), threaded=True)
    box[0] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Provider(box[0], client, state["codes"], state["challenges"], state["groups"])
    finally:
        server.shutdown()
        thread.join(timeout=5)
