"""The registry of auth modes: one module per mode, one line here per mode.

Everything else — the API's serializers and schema, the configure form, the representation,
the secrets-follow-the-host rule — is derived from the registered classes, so adding a mode is
its module and its line below.
"""

from __future__ import annotations

from apps.outbound.auth.api_key import ApiKeyAuth
from apps.outbound.auth.base import AuthMode
from apps.outbound.auth.basic import BasicAuth
from apps.outbound.auth.none import NoAuth
from apps.outbound.auth.oauth2_authorization_code import AuthorizationCodeAuth
from apps.outbound.auth.oauth2_client_credentials import ClientCredentialsAuth
from apps.outbound.auth.token import TokenAuth

MODES: dict[str, AuthMode] = {}


def register(mode: AuthMode) -> AuthMode:
    """Make ``mode`` available to data sources, the API and the pages."""
    if mode.name in MODES:
        raise ValueError(f"An auth mode named {mode.name!r} is registered already.")
    MODES[mode.name] = mode
    return mode


def unregister(name: str) -> None:
    MODES.pop(name, None)


def get_mode(name: str) -> AuthMode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"Unknown auth mode {name!r}") from None


def mode_choices() -> list[tuple[str, str]]:
    """(name, label) of every registered mode, for model and form choices."""
    return [(mode.name, mode.label) for mode in MODES.values()]


register(NoAuth())
register(BasicAuth())
register(ApiKeyAuth())
register(TokenAuth())
register(ClientCredentialsAuth())
register(AuthorizationCodeAuth())
