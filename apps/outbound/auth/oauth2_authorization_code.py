"""OAuth 2.0 authorization code (RFC 6749 §4.1) with PKCE (RFC 7636), for the providers in
``providers.PROVIDERS``. The grant's tokens are stored on the data source."""

from __future__ import annotations

import base64
import hashlib
import secrets as pysecrets
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError

from apps.outbound.auth.base import AuthMode, FieldSpec, TokenResult, validate_expired_when
from apps.outbound.auth.providers import PROVIDERS, Provider, backend_for
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import TOKEN_MAX_BYTES, Credentials, OutboundRequest, send
from apps.outbound.errors import TokenRefreshFailed
from apps.outbound.urls import validate_https_url


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = pysecrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class AuthorizationCodeAuth(AuthMode):
    name = "oauth2_authorization_code"
    label = "OAuth 2.0 authorization code"
    token_bearing = True
    fields = (
        FieldSpec("provider", "Provider", required=True, choices=tuple(PROVIDERS)),
        FieldSpec("client_id", "Client ID", required=True),
        FieldSpec("client_secret", "Client secret", secret=True, required=True),
        FieldSpec("scope", "Scope"),
        FieldSpec("authorize_url", "Authorization URL", help="Generic provider only."),
        FieldSpec("token_url", "Token URL", help="Generic provider only."),
    )
    example = {
        "mode": "oauth2_authorization_code",
        "provider": "google",
        "client_id": "1234.apps.googleusercontent.com",
        "client_secret": "s3cr3t",
        "scope": "https://www.googleapis.com/auth/drive.readonly",
    }

    def provider(self, config: dict[str, Any]) -> Provider:
        return PROVIDERS[config.get("provider") or "generic"]

    def validate(self, config, secrets) -> None:
        super().validate(config, secrets)
        if config.get("provider") == "generic":
            validate_https_url(config.get("authorize_url", ""), "authorize_url")
            validate_https_url(config.get("token_url", ""), "token_url")
        elif config.get("authorize_url") or config.get("token_url"):
            raise ValidationError(
                {"authorize_url": "Only the generic provider takes its own endpoint URLs."}
            )
        validate_expired_when(config.get("expired_when"))

    def secret_hosts(self, config) -> list[str]:
        return [u for u in (config.get("authorize_url"), config.get("token_url")) if u]

    def describe(self, datasource) -> str:
        return f"OAuth 2.0 with {self.provider(datasource.auth_config).label}"

    def can_refresh(self, datasource, state) -> bool:
        return bool(state and state.refresh_token)

    def _backend(self, datasource, redirect_uri: str | None = None):
        return backend_for(
            self.provider(datasource.auth_config),
            datasource.auth_config,
            datasource.secrets.get("client_secret", ""),
            redirect_uri,
        )

    def authorization_url(
        self, datasource, *, state: str, redirect_uri: str, code_challenge: str
    ) -> str:
        provider = self.provider(datasource.auth_config)
        backend = self._backend(datasource, redirect_uri)
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": datasource.auth_config.get("client_id", ""),
            "redirect_uri": redirect_uri,
            "state": state,
        }
        params.update(backend.get_scope_argument())
        params.update(backend.auth_extra_arguments())
        if provider.pkce:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{backend.authorization_url()}?{urlencode(params)}"

    def _token_request(self, datasource, form: dict[str, str]) -> TokenResult:
        backend = self._backend(datasource)
        client_id, client_secret = (
            datasource.auth_config.get("client_id", ""),
            datasource.secrets.get("client_secret", ""),
        )
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
            timeout=datasource.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=datasource.pool_key,
            credentials=Credentials(headers=sensitive),
            follow_redirects=False,
        )
        return parse_token_response(response)

    def exchange_code(
        self, datasource, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenResult:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token_request(datasource, form)

    def fetch_token(self, datasource, state) -> TokenResult:
        if not state or not state.refresh_token:
            raise TokenRefreshFailed(
                "The connection has no refresh token; connect the data source again."
            )
        form = {"grant_type": "refresh_token", "refresh_token": state.refresh_token}
        scope = datasource.auth_config.get("scope")
        if scope and self.provider(datasource.auth_config).name == "microsoft":
            form["scope"] = scope  # Microsoft asks for the scope again on refresh
        return self._token_request(datasource, form)
