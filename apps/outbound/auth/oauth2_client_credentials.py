from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from apps.outbound.auth.base import AuthMode, FieldSpec, Kind, TokenResult
from apps.outbound.auth.tokenresponse import parse_token_response
from apps.outbound.client import TOKEN_MAX_BYTES, Credentials, OutboundRequest, send
from apps.outbound.destinations import validate_https_url

CLIENT_AUTH = (("basic", "HTTP Basic (recommended)"), ("body", "In the request body"))


class ClientCredentialsAuth(AuthMode):
    """RFC 6749 §4.4: the client's own id and secret buy a short-lived token."""

    name = "oauth2_client_credentials"
    label = "OAuth 2.0 client credentials"
    token_bearing = True
    fields = (
        FieldSpec("token_url", "Token URL", kind=Kind.URL, required=True, sends_secrets=True,
                  check=validate_https_url, placeholder="https://auth.example.com/oauth/token"),
        FieldSpec("client_id", "Client ID", required=True),
        FieldSpec("client_secret", "Client secret", kind=Kind.SECRET, required=True),
        FieldSpec("scope", "Scope", help="Space-separated, as the provider names them."),
        FieldSpec("audience", "Audience", help="Only for providers that ask for one (Auth0)."),
        FieldSpec("client_auth", "Client authentication", kind=Kind.CHOICE,
                  choices=CLIENT_AUTH, default="basic"),
    )  # fmt: skip
    example = {
        "mode": "oauth2_client_credentials",
        "token_url": "https://auth.example.com/oauth/token",
        "client_id": "plugboard",
        "client_secret": "s3cr3t",
        "scope": "read:items",
        "client_auth": "basic",
    }

    def describe(self, config) -> str:
        return f"OAuth 2.0 client credentials ({config.get('client_id', '')})"

    def can_refresh(self, connection, stored) -> bool:
        return True

    def fetch_token(self, connection, stored) -> TokenResult:
        config = connection.auth_config
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
        secret = connection.secrets.get("client_secret", "")
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
            timeout=connection.timeout_seconds,
            max_bytes=TOKEN_MAX_BYTES,
            pool=connection.pool_key,
            credentials=Credentials(headers=sensitive),
            follow_redirects=False,  # a token endpoint that redirects gets no secret
            redact=[secret],
        )
        return parse_token_response(response)
