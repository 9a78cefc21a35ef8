"""Authorization URLs of the named providers, built from social-auth's provider backends."""

from urllib.parse import parse_qs, urlsplit

import pytest

from apps.outbound.auth import get_mode
from apps.outbound.auth.oauth2_authorization_code import pkce_pair
from tests.factories import DataSourceFactory

CASES = {
    "salesforce": ("login.salesforce.com", "/services/oauth2/authorize", {}),
    "google": (
        "accounts.google.com",
        "/o/oauth2/auth",
        {"access_type": "offline", "prompt": "consent"},
    ),
    "microsoft": ("login.microsoftonline.com", "/common/oauth2/v2.0/authorize", {}),
    "github": ("github.com", "/login/oauth/authorize", {}),
    "dropbox": ("www.dropbox.com", "/oauth2/authorize", {"token_access_type": "offline"}),
}


@pytest.mark.parametrize("provider", sorted(CASES))
def test_authorization_url_of_each_provider(acme, provider):
    host, path, extra = CASES[provider]
    ds = DataSourceFactory(
        tenant=acme.tenant,
        auth_mode="oauth2_authorization_code",
        auth_config={"provider": provider, "client_id": "cid", "scope": "a b"},
        secrets={"client_secret": "never-in-a-url"},
    )
    _verifier, challenge = pkce_pair()

    url = get_mode("oauth2_authorization_code").authorization_url(
        ds,
        state="st4te",
        redirect_uri="https://pb.example/oauth/callback/",
        code_challenge=challenge,
    )

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.hostname, parts.path) == ("https", host, path)
    assert query["client_id"] == "cid"
    assert query["state"] == "st4te"
    assert query["redirect_uri"] == "https://pb.example/oauth/callback/"
    assert query["response_type"] == "code"
    assert query["code_challenge"] == challenge and query["code_challenge_method"] == "S256"
    for key, value in extra.items():
        assert query[key] == value
    assert "never-in-a-url" not in url
    separator = "," if provider == "github" else " "
    scopes = query["scope"].split(separator)
    assert scopes[:2] == ["a", "b"]
    if provider == "microsoft":
        assert "offline_access" in scopes


def test_pkce_pair_is_s256():
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
