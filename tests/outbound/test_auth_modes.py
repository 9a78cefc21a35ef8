"""Every auth mode against real servers: httpbin (static credentials) and django-oauth-toolkit
(tokens), both over HTTPS on loopback."""

import pytest

from apps.datasources.connections import datasource_request
from apps.datasources.models import Status, TokenState
from apps.outbound.service import NotConnected
from tests.factories import DataSourceFactory


def source(tenant, base_url, mode="none", config=None, secrets=None, **kwargs):
    return DataSourceFactory(
        tenant=tenant,
        base_url=base_url,
        auth_mode=mode,
        auth_config=config or {},
        secrets=secrets or {},
        **kwargs,
    )


def test_none_sends_no_credentials_but_the_custom_headers(acme, upstream):
    ds = source(acme.tenant, upstream.url(), headers=[{"name": "X-Env", "value": "prod"}])
    echoed = datasource_request(ds, path="/headers").json()["headers"]
    assert echoed["X-Env"] == "prod"
    assert "Authorization" not in echoed


def test_basic(acme, upstream):
    ds = source(
        acme.tenant, upstream.url(), "basic", {"username": "elements"}, {"password": "connect"}
    )
    assert datasource_request(ds, path="/basic-auth/elements/connect").status_code == 200
    wrong = source(
        acme.tenant, upstream.url(), "basic", {"username": "elements"}, {"password": "x"}
    )
    assert datasource_request(wrong, path="/basic-auth/elements/connect").status_code == 401


def test_api_key_in_a_header(acme, upstream):
    ds = source(acme.tenant, upstream.url(), "api_key",
                {"name": "X-API-Key", "in": "header"}, {"value": "k-123"})  # fmt: skip
    assert datasource_request(ds, path="/headers").json()["headers"]["X-Api-Key"] == "k-123"


def test_api_key_in_the_query(acme, upstream):
    ds = source(acme.tenant, upstream.url(), "api_key",
                {"name": "api_key", "in": "query"}, {"value": "k-456"})  # fmt: skip
    echoed = datasource_request(ds, path="/get?page=2").json()
    assert echoed["args"] == {"page": "2", "api_key": "k-456"}


def test_token_in_a_header_with_a_custom_name_and_scheme(acme, upstream):
    ds = source(acme.tenant, upstream.url(), "token",
                {"in": "header", "header_name": "X-Auth", "scheme": "Token"}, {"token": "t-1"})  # fmt: skip
    assert datasource_request(ds, path="/headers").json()["headers"]["X-Auth"] == "Token t-1"


def test_token_with_an_empty_scheme_is_sent_alone(acme, upstream):
    ds = source(
        acme.tenant, upstream.url(), "token", {"in": "header", "scheme": ""}, {"token": "t-2"}
    )
    assert datasource_request(ds, path="/headers").json()["headers"]["Authorization"] == "t-2"


def test_token_bearer_is_accepted_by_httpbin(acme, upstream):
    ds = source(acme.tenant, upstream.url(), "token", {}, {"token": "t-3"})
    response = datasource_request(ds, path="/bearer")
    assert response.status_code == 200
    assert response.json() == {"authenticated": True, "token": "t-3"}


def test_token_in_the_query(acme, upstream):
    ds = source(acme.tenant, upstream.url(), "token", {"in": "query", "param_name": "access_token"},
                {"token": "t-4"})  # fmt: skip
    assert datasource_request(ds, path="/get").json()["args"] == {"access_token": "t-4"}


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_client_credentials(acme, oauth, client_auth):
    ds = source(
        acme.tenant,
        oauth.url("/api"),
        "oauth2_client_credentials",
        {"token_url": oauth.url("/o/token/"), "client_id": "cc-client", "scope": "read",
         "client_auth": client_auth},
        {"client_secret": "cc-secret-value"},
    )  # fmt: skip
    before = oauth.stats()["grant:client_credentials"]

    first = datasource_request(ds, path="/hello")
    second = datasource_request(ds, path="/hello")

    assert first.status_code == second.status_code == 200
    assert first.json()["ok"] is True
    assert oauth.stats()["grant:client_credentials"] == before + 1  # cached until expiry
    state = TokenState.objects.get(datasource=ds)
    assert state.expires_at is not None and state.access_token


def test_client_credentials_with_a_wrong_secret_needs_attention(acme, oauth):
    from apps.outbound.errors import TokenRefreshFailed

    ds = source(acme.tenant, oauth.url("/api"), "oauth2_client_credentials",
                {"token_url": oauth.url("/o/token/"), "client_id": "cc-client"},
                {"client_secret": "wrong-secret-canary"})  # fmt: skip
    with pytest.raises(TokenRefreshFailed) as info:
        datasource_request(ds, path="/hello")
    ds.refresh_from_db()
    assert ds.status == Status.NEEDS_ATTENTION
    assert "401" in ds.last_error and "invalid_client" in ds.last_error
    assert "wrong-secret-canary" not in ds.last_error + str(info.value)


def test_token_refresh_recipe_fetches_a_token_when_none_is_configured(acme, oauth):
    ds = source(
        acme.tenant,
        oauth.url("/api"),
        "token",
        {
            "refresh": {
                "method": "POST",
                "path": oauth.url("/o/token/"),
                "media_type": "form",
                "body": "grant_type=password&client_id=password-client"
                "&username={{username}}&password={{password}}",
                "token_path": "access_token",
                "expires_in_path": "expires_in",
                "username": "resource-owner",
            }
        },
        {"refresh.password": "owner-password-1"},
    )
    response = datasource_request(ds, path="/hello")
    assert response.status_code == 200
    assert response.json()["user"] == "resource-owner"


def test_token_refresh_recipe_with_a_json_body_and_templated_header(acme, upstream):
    """httpbin echoes the refresh request: the templates were filled and escaped."""
    ds = source(
        acme.tenant,
        upstream.url(),
        "token",
        {
            "refresh": {
                "method": "POST",
                "path": "/anything/token/{{username}}",
                "media_type": "json",
                "headers": [{"name": "X-Refresh", "value": "rt={{refresh_token}}"}],
                "body": '{"user": "{{username}}", "pass": "{{password}}"}',
                "token_path": "json.pass",
                "expires_in_path": "",
                "username": 'ann "the" admin/x',
            }
        },
        {"refresh.password": 'p"w\\d', "refresh.refresh_token": "r-1"},
    )
    response = datasource_request(ds, path="/bearer")
    assert response.status_code == 200
    assert response.json()["token"] == 'p"w\\d'  # the JSON-escaped password, parsed back


def test_authorization_code_without_a_grant_is_not_connected(acme, oauth):
    ds = source(acme.tenant, oauth.url("/api"), "oauth2_authorization_code",
                {"provider": "generic", "client_id": "code-client",
                 "authorize_url": oauth.url("/o/authorize/"), "token_url": oauth.url("/o/token/")},
                {"client_secret": "code-secret-value"})  # fmt: skip
    with pytest.raises(NotConnected):
        datasource_request(ds, path="/hello")
