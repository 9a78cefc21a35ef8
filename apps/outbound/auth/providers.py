"""OAuth 2.0 authorization-code providers, on social-auth's provider backends.

social-core's backends carry each provider's endpoints, scope format and token parameters; we
use them for those and nothing else. The HTTP calls go through our outbound client, tokens are
stored on the data source, and no user is ever logged in through them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from social_core.backends.dropbox import DropboxOAuth2V2
from social_core.backends.github import GithubOAuth2
from social_core.backends.google import GoogleOAuth2
from social_core.backends.microsoft import MicrosoftOAuth2
from social_core.backends.oauth import BaseOAuth2
from social_core.backends.salesforce import SalesforceOAuth2


class GenericOAuth2(BaseOAuth2):
    """Any RFC 6749 provider whose endpoints the data source names."""

    name = "plugboard-generic"
    AUTHORIZATION_URL = ""
    ACCESS_TOKEN_URL = ""
    ACCESS_TOKEN_METHOD = "POST"
    SCOPE_SEPARATOR = " "
    REDIRECT_STATE = False


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    backend: type[BaseOAuth2]
    pkce: bool = True
    extra_authorize_params: dict[str, str] = field(default_factory=dict)
    required_scopes: tuple[str, ...] = ()


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        # Reference: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm
        # The token response names the org's instance_url; PKCE is supported.
        Provider("salesforce", "Salesforce", SalesforceOAuth2),
        # Reference: https://developers.google.com/identity/protocols/oauth2/web-server
        # A refresh token is only issued with access_type=offline; prompt=consent re-issues it.
        Provider(
            "google",
            "Google",
            GoogleOAuth2,
            extra_authorize_params={"access_type": "offline", "prompt": "consent"},
        ),
        # Reference: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
        # offline_access is the scope that yields a refresh token; refresh tokens rotate.
        Provider("microsoft", "Microsoft", MicrosoftOAuth2, required_scopes=("offline_access",)),
        # Reference: https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
        # OAuth app tokens do not expire; GitHub App user tokens do, with refresh tokens.
        Provider("github", "GitHub", GithubOAuth2),
        # Reference: https://developers.dropbox.com/oauth-guide
        # token_access_type=offline asks for a long-lived refresh token.
        Provider(
            "dropbox",
            "Dropbox",
            DropboxOAuth2V2,
            extra_authorize_params={"token_access_type": "offline"},
        ),
        Provider("generic", "Other (generic OAuth 2.0)", GenericOAuth2),
    )
}


class _Strategy:
    """What a social-core backend asks its strategy for, answered from one data source."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def setting(self, name: str, default: Any = None, backend: Any = None) -> Any:
        return self.values.get(name, default)

    def request_data(self, merge: bool = True) -> dict[str, Any]:
        return {}

    def absolute_uri(self, path: str | None = None) -> str | None:
        return path


def backend_for(
    provider: Provider, config: dict[str, Any], client_secret: str, redirect_uri: str | None
) -> BaseOAuth2:
    scopes = [s for s in (config.get("scope") or "").replace(",", " ").split() if s]
    for required in provider.required_scopes:
        if required not in scopes:
            scopes.append(required)
    values: dict[str, Any] = {
        "KEY": config.get("client_id", ""),
        "SECRET": client_secret,
        "SCOPE": scopes,
        "IGNORE_DEFAULT_SCOPE": bool(scopes),
        "AUTH_EXTRA_ARGUMENTS": dict(provider.extra_authorize_params),
    }
    if provider.backend is GenericOAuth2:
        values["AUTHORIZATION_URL"] = config.get("authorize_url", "")
        values["ACCESS_TOKEN_URL"] = config.get("token_url", "")
    return provider.backend(strategy=_Strategy(values), redirect_uri=redirect_uri)  # type: ignore[arg-type]
