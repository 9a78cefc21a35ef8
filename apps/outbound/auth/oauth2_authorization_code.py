"""OAuth 2.0 authorization code (RFC 6749 §4.1) with PKCE (RFC 7636), for the providers in
``providers.PROVIDERS``. The grant and its tokens are kept by the app that owns the connection."""

from __future__ import annotations

import base64
import hashlib
import secrets as pysecrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec, Kind, TokenResult
from apps.outbound.auth.providers import PROVIDERS, Provider, backend_for
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import TOKEN_MAX_BYTES, Credentials, OutboundRequest, send
from apps.outbound.destinations import validate_https_url
from apps.outbound.errors import TokenRefreshFailed


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = pysecrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class AuthorizationCodeAuth(AuthMode):
    name = "oauth2_authorization_code"
    label = "OAuth 2.0 authorization code"
    token_bearing = True
    interactive = True
    fields = (
        FieldSpec("provider", "Provider", kind=Kind.CHOICE, required=True,
                  choices=tuple((p.name, p.label) for p in PROVIDERS.values())),
        FieldSpec("client_id", "Client ID", required=True),
        FieldSpec("client_secret", "Client secret", kind=Kind.SECRET, required=True),
        FieldSpec("scope", "Scope", help="Space-separated, as the provider names them."),
        FieldSpec("authorize_url", "Authorization URL", kind=Kind.URL, sends_secrets=True,
                  check=validate_https_url, help="Generic provider only."),
        FieldSpec("token_url", "Token URL", kind=Kind.URL, sends_secrets=True,
                  check=validate_https_url, help="Generic provider only."),
    )  # fmt: skip
    example = {
        "mode": "oauth2_authorization_code",
        "provider": "google",
        "client_id": "1234.apps.googleusercontent.com",
        "client_secret": "s3cr3t",
        "scope": "https://www.googleapis.com/auth/drive.readonly",
    }

    def provider(self, config: Mapping[str, Any]) -> Provider:
        return PROVIDERS[config.get("provider") or "generic"]

    def validate(self, config, secrets) -> None:
        super().validate(config, secrets)
        if config.get("provider") == "generic":
            errors = {}
            for name in ("authorize_url", "token_url"):
                if not config.get(name):
                    errors[name] = "The generic provider needs its endpoint URLs."
            if errors:
                raise ValidationError(errors)
        elif config.get("authorize_url") or config.get("token_url"):
            raise ValidationError(
                {"authorize_url": "Only the generic provider takes its own endpoint URLs."}
            )

    def describe(self, config) -> str:
        return f"OAuth 2.0 with {self.provider(config).label}"

    def can_refresh(self, connection, stored) -> bool:
        return bool(stored and stored.refresh_token)

    def _backend(self, connection, redirect_uri: str | None = None):
        return backend_for(
            self.provider(connection.auth_config),
            connection.auth_config,
            connection.secrets.get("client_secret", ""),
            redirect_uri,
        )

    def authorization_url(
        self, connection, *, state: str, redirect_uri: str, code_challenge: str
    ) -> str:
        provider = self.provider(connection.auth_config)
        backend = self._backend(connection, redirect_uri)
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": connection.auth_config.get("client_id", ""),
            "redirect_uri": redirect_uri,
            "state": state,
        }
        params.update(backend.get_scope_argument())
        params.update(backend.auth_extra_arguments())
        if provider.pkce:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{backend.authorization_url()}?{urlencode(params)}"

    def _token_request(self, connection, form: dict[str, str]) -> TokenResult:
        backend = self._backend(connection)
        client_id = connection.auth_config.get("client_id", "")
        client_secret = connection.secrets.get("client_secret", "")
        sensitive: dict[str, str] = {}
        if backend.use_basic_auth():
            pair = f"{client_id}:{client_secret}".encode()
            sensitive["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form = {**form, "client_id": client_id, "client_secret": client_secret}
        response = send(
            OutboundRequest(
                "POST",
                backend.access_token_url(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                body=urlencode(form).encode(),
            ),
            timeout=connection.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=connection.pool_key,
            credentials=Credentials(headers=sensitive),
            follow_redirects=False,
            redact=[client_secret],
        )
        return parse_token_response(response)

    def exchange_code(
        self, connection, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenResult:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token_request(connection, form)

    def fetch_token(self, connection, stored) -> TokenResult:
        if not stored or not stored.refresh_token:
            raise TokenRefreshFailed(
                "The connection has no refresh token; connect the data source again."
            )
        form = {"grant_type": "refresh_token", "refresh_token": stored.refresh_token}
        scope = connection.auth_config.get("scope")
        if scope and self.provider(connection.auth_config).name == "microsoft":
            form["scope"] = scope  # Microsoft asks for the scope again on refresh
        return self._token_request(connection, form)
