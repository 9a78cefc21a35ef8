"""Tokens through the proxy, against the real OAuth 2.0 server: a refused token is refreshed
once and the call retried once; an expired one is refreshed once for concurrent calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.datasources.models import TokenState
from tests.factories import DataSourceFactory
from tests.outbound.oauth_helpers import connect
from tests.support.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_refused_token_is_refreshed_once_and_the_call_retried_once(client, acme, oauth):
    ds = DataSourceFactory(
        tenant=acme.tenant, slug="api", base_url=oauth.url("/api"),
        auth_mode="oauth2_authorization_code",
        auth_config={"provider": "generic", "client_id": "code-client", "scope": "read",
                     "authorize_url": oauth.url("/o/authorize/"),
                     "token_url": oauth.url("/o/token/")},
        secrets={"client_secret": "code-secret-value"},
    )  # fmt: skip
    client.force_login(acme.owner)
    connect(client, ds, oauth)
    state = TokenState.objects.get(datasource=ds)
    TokenState.objects.filter(pk=state.pk).update(
        obtained_at=state.obtained_at - timedelta(minutes=10),
        expires_at=state.expires_at - timedelta(minutes=10),
    )
    oauth.call("/_test/expire", {"token": state.access_token})  # the provider now says 401
    refreshes = oauth.stats()["grant:refresh_token"]

    response = acme.api().get("/api/v1/proxy/api/hello")

    assert response.status_code == 200 and response.json()["ok"] is True
    assert oauth.stats()["grant:refresh_token"] == refreshes + 1


def test_twenty_concurrent_calls_with_an_expired_token_make_one_token_request(acme, oauth):
    ds = DataSourceFactory(
        tenant=acme.tenant, slug="cc", base_url=oauth.url("/api"),
        auth_mode="oauth2_client_credentials",
        auth_config={"token_url": oauth.url("/o/token/"), "client_id": "cc-client",
                     "scope": "read"},
        secrets={"client_secret": "cc-secret-value"},
    )  # fmt: skip
    assert acme.api().get("/api/v1/proxy/cc/hello").status_code == 200
    TokenState.objects.filter(datasource=ds).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = oauth.stats()["token_requests"]

    statuses = run_together(20, lambda: acme.api().get("/api/v1/proxy/cc/hello").status_code)

    assert statuses == [200] * 20
    assert oauth.stats()["token_requests"] == before + 1
