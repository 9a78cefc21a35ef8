from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from apps.outbound.auth.base import AuthMode, FieldSpec, TokenResult, validate_expired_when
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import TOKEN_MAX_BYTES, Credentials, OutboundRequest, send
from apps.outbound.urls import validate_https_url


class ClientCredentialsAuth(AuthMode):
    """RFC 6749 §4.4: the client's own id and secret buy a short-lived token."""

    name = "oauth2_client_credentials"
    label = "OAuth 2.0 client credentials"
    token_bearing = True
    fields = (
        FieldSpec("token_url", "Token URL", required=True),
        FieldSpec("client_id", "Client ID", required=True),
        FieldSpec("client_secret", "Client secret", secret=True, required=True),
        FieldSpec("scope", "Scope"),
        FieldSpec("audience", "Audience"),
        FieldSpec(
            "client_auth", "Client authentication", choices=("basic", "body"), default="basic"
        ),
    )
    example = {
        "mode": "oauth2_client_credentials",
        "token_url": "https://auth.example.com/oauth/token",
        "client_id": "plugboard",
        "client_secret": "s3cr3t",
        "scope": "read:items",
        "client_auth": "basic",
    }

    def validate(self, config, secrets) -> None:
        super().validate(config, secrets)
        validate_https_url(config.get("token_url", ""), "token_url")
        validate_expired_when(config.get("expired_when"))

    def secret_hosts(self, config) -> list[str]:
        return [config.get("token_url", "")]

    def describe(self, datasource) -> str:
        return f"OAuth 2.0 client credentials ({datasource.auth_config.get('client_id', '')})"

    def can_refresh(self, datasource, state) -> bool:
        return True

    def fetch_token(self, datasource, state) -> TokenResult:
        config = datasource.auth_config
        form = {"grant_type": "client_credentials"}
        if config.get("scope"):
            form["scope"] = config["scope"]
        if config.get("audience"):
            form["audience"] = config["audience"]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        client_id = config.get("client_id", "")
        secret = datasource.secrets.get("client_secret", "")
        if config.get("client_auth", "basic") == "body":
            form.update(client_id=client_id, client_secret=secret)
            sensitive = {}
        else:
            # Reference: https://datatracker.ietf.org/doc/html/rfc6749#section-2.3.1
            # (id and secret are form-urlencoded before they are joined and base64-encoded)
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            sensitive = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        response = send(
            OutboundRequest(
                "POST", config["token_url"], headers=headers, body=urlencode(form).encode()
            ),
            timeout=datasource.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=datasource.pool_key,
            credentials=Credentials(headers=sensitive),
            follow_redirects=False,  # a token endpoint that redirects gets no secret
        )
        return parse_token_response(response)
