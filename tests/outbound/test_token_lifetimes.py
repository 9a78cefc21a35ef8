"""Short-lived tokens, refusal storms and refreshes with Redis down, against the real OAuth 2.0
server (django-oauth-toolkit over HTTPS) issuing tokens of the lifetime each test sets."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.datasources.connections import TokenStateStore, connection_of, datasource_request
from apps.datasources.models import TokenState
from apps.outbound.tokens import token_refresh
from tests.factories import DataSourceFactory
from tests.outbound.oauth_helpers import connect
from tests.support.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lifetime(oauth):
    """Make the provider issue client-credentials tokens that live ``seconds``."""

    def set_lifetime(seconds: int) -> None:
        oauth.call("/_test/lifetime", {"client_id": "cc-client", "seconds": seconds})

    yield set_lifetime
    oauth.call("/_test/lifetime", {"client_id": "cc-client", "seconds": 0})


@pytest.fixture
def cc_source(acme, oauth):
    return DataSourceFactory(
        tenant=acme.tenant,
        base_url=oauth.url("/api"),
        auth_mode="oauth2_client_credentials",
        auth_config={
            "token_url": oauth.url("/o/token/"),
            "client_id": "cc-client",
            "scope": "read",
            "client_auth": "basic",
        },
        secrets={"client_secret": "cc-secret-value"},
    )


def hello(ds) -> int:
    return datasource_request(ds, path="/hello").status_code


def wait_until_age(ds, seconds: float) -> None:
    """Sleep until the stored token is ``seconds`` old (bounded: tokens here live ≤ 20 s)."""
    obtained = TokenState.objects.get(datasource=ds).obtained_at
    delay = (obtained + timedelta(seconds=seconds) - timezone.now()).total_seconds()
    assert delay < 25
    if delay > 0:
        time.sleep(delay)


@pytest.mark.parametrize("seconds", [20, 5])
def test_a_burst_of_calls_with_short_lived_tokens_makes_one_token_request(
    cc_source, oauth, lifetime, seconds
):
    lifetime(seconds)
    before = oauth.stats()["token_requests"]

    assert run_together(20, lambda: hello(cc_source)) == [200] * 20
    assert [hello(cc_source) for _ in range(3)] == [200] * 3

    assert oauth.stats()["token_requests"] == before + 1
    state = TokenState.objects.get(datasource=cc_source)
    assert state.expires_at - state.obtained_at < timedelta(seconds=seconds + 2)


def test_a_five_second_token_is_reused_until_near_expiry_then_replaced(cc_source, oauth, lifetime):
    lifetime(5)
    before = oauth.stats()["token_requests"]
    assert hello(cc_source) == 200
    first = TokenState.objects.get(datasource=cc_source).access_token

    wait_until_age(cc_source, 2.5)  # half its life left: reused
    assert hello(cc_source) == 200
    assert oauth.stats()["token_requests"] == before + 1

    wait_until_age(cc_source, 4.2)  # less than a quarter left: replaced before use
    assert hello(cc_source) == 200
    assert oauth.stats()["token_requests"] == before + 2
    assert TokenState.objects.get(datasource=cc_source).access_token != first


def test_a_path_that_always_answers_401_does_not_cause_a_refresh_storm(
    client, acme, oauth, upstream
):
    ds = DataSourceFactory(
        tenant=acme.tenant,
        base_url=oauth.url("/api"),
        auth_mode="oauth2_authorization_code",
        auth_config={
            "provider": "generic",
            "client_id": "code-client",
            "scope": "read",
            "authorize_url": oauth.url("/o/authorize/"),
            "token_url": oauth.url("/o/token/"),
        },
        secrets={"client_secret": "code-secret-value"},
    )
    client.force_login(acme.owner)
    connect(client, ds, oauth)
    # The token was obtained a while ago; the API answers 401 to everything on this path.
    state = TokenState.objects.get(datasource=ds)
    TokenState.objects.filter(pk=state.pk).update(
        obtained_at=state.obtained_at - timedelta(minutes=10),
        expires_at=state.expires_at - timedelta(minutes=10),
    )
    before = oauth.stats()["grant:refresh_token"]

    statuses = [datasource_request(ds, url=upstream.url("/status/401")).status_code
                for _ in range(10)]  # fmt: skip

    assert statuses == [401] * 10
    # The first refusal refreshed once (the token might have expired at the provider); the
    # refusals of the token obtained moments ago did not refresh, nor rotate, again.
    assert oauth.stats()["grant:refresh_token"] == before + 1


def test_with_redis_down_a_refresh_waits_for_the_token_rows_database_lock(
    cc_source, oauth, settings
):
    hello(cc_source)  # a token is stored
    TokenState.objects.filter(datasource=cc_source).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    }  # fmt: skip
    before = oauth.stats()["token_requests"]
    holding, release = threading.Event(), threading.Event()

    def hold_row_lock() -> None:  # another machine's refresh, holding the row
        try:
            with transaction.atomic():
                TokenState.objects.select_for_update().get(datasource=cc_source)
                holding.set()
                release.wait(20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert holding.wait(10)
        done = threading.Event()
        refresher = threading.Thread(
            target=lambda: (
                token_refresh(connection_of(cc_source), TokenStateStore(cc_source.pk), stale=None),
                connection.close(),
                done.set(),
            )
        )
        refresher.start()
        assert not done.wait(2), "the refresh did not wait for the row lock"
        assert oauth.stats()["token_requests"] == before
    finally:
        release.set()
        holder.join(20)
    assert done.wait(20)
    refresher.join(5)
    assert oauth.stats()["token_requests"] == before + 1


def test_with_redis_down_concurrent_callers_still_make_one_token_request(
    cc_source, oauth, settings
):
    hello(cc_source)
    TokenState.objects.filter(datasource=cc_source).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                    "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}
    }  # fmt: skip
    before = oauth.stats()["token_requests"]

    assert run_together(10, lambda: hello(cc_source)) == [200] * 10

    assert oauth.stats()["token_requests"] == before + 1
