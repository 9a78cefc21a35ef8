"""Edge cases of auth and tokens, with the upstream mocked at the HTTP boundary (`responses`)."""

from datetime import timedelta

import pytest
import responses
from django.test import override_settings
from django.utils import timezone

from apps.datasources.connections import datasource_request
from apps.datasources.connections import datasource_token as token_current
from apps.datasources.models import Status, TokenState
from apps.outbound.client import parse_retry_after
from apps.outbound.errors import TokenRefreshFailed
from tests.factories import DataSourceFactory

API = "https://api.example.com"
TOKEN_URL = "https://auth.example.com/oauth/token"


@pytest.fixture
def cc_source(acme, test_dns):
    return DataSourceFactory(
        tenant=acme.tenant,
        base_url=API,
        auth_mode="oauth2_client_credentials",
        auth_config={
            "token_url": TOKEN_URL,
            "client_id": "id",
            "scope": "read write",
            "audience": "https://api.example.com",
            "expired_when": {
                "status_codes": [401],
                "body_path": "error.code",
                "body_values": ["token_expired"],
            },
        },
        secrets={"client_secret": "s e/cret"},
    )


def body_of(call) -> str:
    body = call.request.body
    return body.decode() if isinstance(body, bytes) else body or ""


def token_reply(value, expires_in=3600, **extra):
    return {"access_token": value, "expires_in": expires_in, "token_type": "Bearer", **extra}


@responses.activate
def test_client_credentials_request_follows_rfc_6749(cc_source):
    responses.post(TOKEN_URL, json=token_reply("t1"))
    responses.get(f"{API}/items", json=[])

    datasource_request(cc_source, path="/items")

    token_call = responses.calls[0].request
    assert token_call.headers["Authorization"] == "Basic aWQ6cyUyMGUlMkZjcmV0"  # id:s%20e%2Fcret
    body = body_of(responses.calls[0])
    assert "client_secret" not in body
    assert "grant_type=client_credentials" in body
    assert "scope=read+write" in body and "audience=" in body
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t1"


def stored_token(datasource, value, *, age=timedelta(minutes=10), lifetime=timedelta(hours=1)):
    """A token obtained ``age`` ago, living ``lifetime``."""
    obtained = timezone.now() - age
    return TokenState.objects.create(
        datasource=datasource, access_token=value, obtained_at=obtained,
        expires_at=obtained + lifetime,
    )  # fmt: skip


@responses.activate
def test_an_expired_rule_on_the_body_triggers_a_refresh_whatever_the_status(cc_source):
    stored_token(cc_source, "t1")
    responses.post(TOKEN_URL, json=token_reply("t2"))
    responses.get(f"{API}/items", json={"error": {"code": "token_expired"}}, status=200)
    responses.get(f"{API}/items", json=[{"id": 1}], status=200)

    response = datasource_request(cc_source, path="/items")

    assert response.json() == [{"id": 1}]
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 1
    assert responses.calls[0].request.headers["Authorization"] == "Bearer t1"
    assert responses.calls[2].request.headers["Authorization"] == "Bearer t2"


@responses.activate
def test_only_one_retry_after_a_refresh_and_no_refresh_storm(cc_source):
    stored_token(cc_source, "t1")
    responses.post(TOKEN_URL, json=token_reply("t2"))
    responses.post(TOKEN_URL, json=token_reply("t3"))
    responses.get(f"{API}/items", status=401)

    first = datasource_request(cc_source, path="/items")
    assert first.status_code == 401
    assert len(responses.calls) == 3  # call, token, retry; no loop

    # t2 was obtained a moment ago: the upstream refusing it again is its answer, not a reason
    # to refresh (and rotate) once more.
    for _ in range(3):
        assert datasource_request(cc_source, path="/items").status_code == 401
    urls = [c.request.url for c in responses.calls]
    assert urls.count(TOKEN_URL) == 1 and len(urls) == 6


@responses.activate
def test_a_token_response_without_the_token_is_a_failed_refresh(cc_source):
    responses.post(TOKEN_URL, json={"token_type": "Bearer"})

    with pytest.raises(TokenRefreshFailed, match="no token at 'access_token'"):
        datasource_request(cc_source, path="/items")
    cc_source.refresh_from_db()
    assert cc_source.status == Status.NEEDS_ATTENTION


@responses.activate
def test_a_failed_refresh_leaves_the_previous_token_in_place(cc_source):
    TokenState.objects.create(
        datasource=cc_source, access_token="old", expires_at=timezone.now() - timedelta(seconds=5)
    )
    responses.post(TOKEN_URL, json={"error": "temporarily_unavailable"}, status=503)

    with pytest.raises(TokenRefreshFailed, match="503"):
        token_current(cc_source)

    assert TokenState.objects.get(datasource=cc_source).access_token == "old"


@responses.activate
def test_expires_in_may_be_a_string(cc_source):
    responses.post(TOKEN_URL, json=token_reply("t1", expires_in="120"))
    token_current(cc_source)
    state = TokenState.objects.get(datasource=cc_source)
    assert timedelta(seconds=100) < state.expires_at - timezone.now() <= timedelta(seconds=120)


@responses.activate
def test_a_token_valid_for_longer_than_the_skew_is_reused(cc_source):
    responses.post(TOKEN_URL, json=token_reply("t1", expires_in=3600))
    assert token_current(cc_source) == "t1"
    assert token_current(cc_source) == "t1"
    assert len(responses.calls) == 1


@responses.activate
def test_a_token_about_to_expire_is_refreshed_before_use(cc_source):
    responses.post(TOKEN_URL, json=token_reply("t1", expires_in=20))
    responses.post(TOKEN_URL, json=token_reply("t2", expires_in=3600))
    assert token_current(cc_source) == "t1"
    assert token_current(cc_source) == "t1"  # a 20 s token is reused, not refetched per call
    # 16 s later only 4 s are left, less than a quarter of its lifetime: replaced before use.
    state = TokenState.objects.get(datasource=cc_source)
    TokenState.objects.filter(pk=state.pk).update(
        obtained_at=state.obtained_at - timedelta(seconds=16),
        expires_at=state.expires_at - timedelta(seconds=16),
    )
    assert token_current(cc_source) == "t2"
    assert [c.request.url for c in responses.calls].count(TOKEN_URL) == 2


@responses.activate
def test_a_token_endpoint_that_redirects_gets_no_secret(cc_source):
    responses.post(TOKEN_URL, status=307, headers={"Location": "https://api.example.com/steal"})
    with pytest.raises(TokenRefreshFailed):
        token_current(cc_source)
    assert [c.request.url for c in responses.calls] == [TOKEN_URL]


@responses.activate
def test_a_static_token_without_refresh_that_is_refused_needs_attention(acme, test_dns):
    ds = DataSourceFactory(tenant=acme.tenant, base_url=API, auth_mode="token",
                           secrets={"token": "static"})  # fmt: skip
    responses.get(f"{API}/items", status=401)

    response = datasource_request(ds, path="/items")

    assert response.status_code == 401
    ds.refresh_from_db()
    assert ds.status == Status.NEEDS_ATTENTION
    assert "no way to refresh" in ds.last_error


@responses.activate
def test_the_refresh_recipe_rotates_its_refresh_token(acme, test_dns):
    ds = DataSourceFactory(
        tenant=acme.tenant,
        base_url=API,
        auth_mode="token",
        auth_config={
            "refresh": {
                "method": "POST",
                "path": "/oauth/token",
                "media_type": "form",
                "body": "grant_type=refresh_token&refresh_token={{refresh_token}}",
                "token_path": "data.token",
                "expires_in_path": "data.ttl",
                "refresh_token_path": "data.next",
            }
        },
        secrets={"token": "t0", "refresh.refresh_token": "r0"},
    )
    responses.get(f"{API}/items", status=401)
    responses.post(f"{API}/oauth/token", json={"data": {"token": "t1", "ttl": 600, "next": "r1"}})
    responses.get(f"{API}/items", json=[])
    responses.post(f"{API}/oauth/token", json={"data": {"token": "t2", "ttl": 600, "next": "r2"}})

    assert datasource_request(ds, path="/items").status_code == 200
    assert "refresh_token=r0" in body_of(responses.calls[1])
    TokenState.objects.filter(datasource=ds).update(expires_at=timezone.now())
    token_current(ds)
    assert "refresh_token=r1" in body_of(responses.calls[3])
    assert TokenState.objects.get(datasource=ds).refresh_token == "r2"


def test_retry_after_in_seconds_and_as_a_date():
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = (timezone.now() + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 <= parse_retry_after(future) <= 90


@responses.activate
def test_tokens_refresh_with_redis_down_using_the_file_lock(cc_source):
    responses.post(TOKEN_URL, json=token_reply("t1"))
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
            }
        }
    ):
        assert token_current(cc_source) == "t1"


@responses.activate
def test_secrets_never_reach_the_log(cc_source, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    cc_source.secrets = {"client_secret": "cs-canary-3"}
    cc_source.save()
    responses.post(TOKEN_URL, json=token_reply("tok-canary-1"))
    responses.get(f"{API}/items", json=[])

    datasource_request(cc_source, path="/items?key=k-canary-2")

    assert "auth.example.com" in caplog.text  # the calls were logged...
    for canary in ("tok-canary-1", "k-canary-2", "cs-canary-3"):
        assert canary not in caplog.text  # ...without their secrets
