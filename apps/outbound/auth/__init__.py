"""The registry of auth modes: one module per mode, one line here per mode."""

from __future__ import annotations

from apps.outbound.auth.api_key import ApiKeyAuth
from apps.outbound.auth.base import AuthMode
from apps.outbound.auth.basic import BasicAuth
from apps.outbound.auth.none import NoAuth
from apps.outbound.auth.oauth2_authorization_code import AuthorizationCodeAuth
from apps.outbound.auth.oauth2_client_credentials import ClientCredentialsAuth
from apps.outbound.auth.token import TokenAuth

MODES: dict[str, AuthMode] = {
    mode.name: mode
    for mode in (
        NoAuth(),
        BasicAuth(),
        ApiKeyAuth(),
        TokenAuth(),
        ClientCredentialsAuth(),
        AuthorizationCodeAuth(),
    )
}


def get_mode(name: str) -> AuthMode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"Unknown auth mode {name!r}") from None
