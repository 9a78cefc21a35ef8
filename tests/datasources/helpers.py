"""Write shapes of a data source for each auth mode, against the loopback test servers."""

from __future__ import annotations

from tests.support.servers import OAuthServer, Upstream

CANARIES = {
    "basic": "canary-basic-pw-5a1",
    "api_key": "canary-apikey-6b2",
    "token": "canary-token-7c3",
    "refresh_password": "canary-refresh-pw-8d4",
    "refresh_token": "canary-refresh-rt-9e5",
    "client_secret": "canary-cc-secret-0f6",
    "code_secret": "canary-code-secret-1a7",
}


def write_shape(mode: str, upstream: Upstream, oauth: OAuthServer | None = None, **extra) -> dict:
    """A valid API body per auth mode; the test paths pass when the credentials are right."""
    base = {"name": f"{mode} source", "base_url": upstream.url(), "timeout_seconds": 10}
    if mode == "none":
        base.update(auth={"mode": "none"}, ping={"path": "/get"})
    elif mode == "basic":
        base.update(
            auth={"mode": "basic", "username": "elements", "password": "connect"},
            ping={"path": "/basic-auth/elements/connect", "success_path": "authenticated",
                  "success_values": ["true"]},
        )  # fmt: skip
    elif mode == "api_key":
        base.update(
            auth={
                "mode": "api_key",
                "name": "X-API-Key",
                "value": CANARIES["api_key"],
                "in": "header",
            },
            ping={"path": "/headers", "success_path": "headers.Host"},
        )
    elif mode == "token":
        base.update(
            auth={"mode": "token", "token": CANARIES["token"], "in": "header"},
            ping={"path": "/bearer", "success_path": "authenticated", "success_values": ["true"]},
        )
    elif mode == "oauth2_client_credentials":
        assert oauth is not None
        base.update(
            base_url=oauth.url("/api"),
            auth={"mode": "oauth2_client_credentials", "token_url": oauth.url("/o/token/"),
                  "client_id": "cc-client", "client_secret": "cc-secret-value", "scope": "read"},
            ping={"path": "/hello", "success_path": "ok", "success_values": ["true"]},
        )  # fmt: skip
    elif mode == "oauth2_authorization_code":
        assert oauth is not None
        base.update(
            base_url=oauth.url("/api"),
            auth={"mode": "oauth2_authorization_code", "provider": "generic",
                  "client_id": "code-client", "client_secret": "code-secret-value", "scope": "read",
                  "authorize_url": oauth.url("/o/authorize/"), "token_url": oauth.url("/o/token/")},
            ping={"path": "/hello", "success_path": "ok", "success_values": ["true"]},
        )  # fmt: skip
    base.update(extra)
    return base
