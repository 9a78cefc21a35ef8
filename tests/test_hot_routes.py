"""The hot API routes answered by their middleware (apps.core.middleware.HotRouteMiddleware):
the same routes as the URLconf's, the same answers and headers as the full way, one Redis round
trip and no query for a remembered proxy call."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve

from apps.events.middleware import InboundMiddleware
from apps.proxy.middleware import ProxyMiddleware
from tests.factories import DataSourceFactory

PATHS = [
    "/api/v1/proxy/raw/a", "/api/v1/proxy/raw/", "/api/v1/proxy/raw", "/api/v1/proxy//a",
    "/api/v1/proxy/r-a_w/a/b?c", "/api/v1/proxy/ráw/a", "/api/v1/proxy/r.w/a",
    "/api/v1/proxy/raw/a\n", "/api/v1/proxy/raw/a/../b", "/api/v1/proxyx/raw/a",
    "/api/v1/inbound/abc", "/api/v1/inbound/abc/", "/api/v1/inbound/", "/api/v1/inbound/a b",
    "/api/v1/inbound/abc\n", "/api/v1/inbound/abc/def", "/api/v2/inbound/abc",
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
def test_a_hot_route_takes_exactly_what_the_urlconf_routes_to_it(path):
    try:
        match = resolve(path)
        name = match.url_name
    except Resolver404:
        match, name = None, None
    for middleware in (ProxyMiddleware, InboundMiddleware):
        found = middleware.pattern.fullmatch(path) if path.startswith(middleware.prefix) else None
        assert (found is not None) == (name == middleware.url_name), (path, middleware)
        if found is not None:
            assert found.groupdict() == match.kwargs


@pytest.fixture
def source(acme, upstream):
    return DataSourceFactory(tenant=acme.tenant, slug="root", base_url=upstream.url())


def test_a_remembered_proxy_call_costs_one_redis_round_trip_and_no_query(
    acme, source, redis_commands, django_assert_num_queries, settings
):
    api = acme.api()
    api.get("/api/v1/proxy/root/get")  # the key and the data source are now remembered
    redis_commands.clear()

    with django_assert_num_queries(0):
        response = api.get("/api/v1/proxy/root/get")

    assert response.status_code == 200
    # The key's and the data source's stamp, the rate counters, the call slot (and the slot the
    # first call gave back, when still pending): one pipeline.
    assert redis_commands == ["PIPELINE"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY
    assert response["X-Request-ID"] and response["X-Content-Type-Options"] == "nosniff"
    assert int(response["Content-Length"]) == len(response.content)
    assert response.wsgi_request.resolver_match.url_name == "proxy"
    assert response.wsgi_request.resolver_match.kwargs == {"slug": "root", "path": "get"}


def test_a_host_not_allowed_is_refused_on_the_hot_routes_too(acme, source, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    api = acme.api()
    api.get("/api/v1/proxy/root/get")
    assert api.get("/api/v1/proxy/root/get", HTTP_HOST="evil.example").status_code == 400
    assert api.post("/api/v1/inbound/abc", HTTP_HOST="evil.example").status_code == 400


def test_an_unremembered_or_refused_proxy_call_goes_the_full_way(acme, source):
    anonymous = acme.api()
    anonymous.credentials()
    refused = anonymous.get("/api/v1/proxy/root/get")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    assert refused["X-Frame-Options"] == "DENY"


def test_an_inbound_answer_has_the_headers_of_the_full_way(client, acme, source, settings):
    response = client.post(f"/api/v1/inbound/{source.inbound_token}", data=b"{}",
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 202, response.content
    assert response["X-Frame-Options"] == "DENY"
    assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY
    assert response["Content-Security-Policy"] and response["X-Request-ID"]
    assert int(response["Content-Length"]) == len(response.content)
    assert response.wsgi_request.resolver_match.url_name == "event-inbound"


def test_a_lost_database_is_the_contracts_503_on_a_hot_route(client, acme, source, monkeypatch):
    from django.db import OperationalError

    import apps.events.views as views

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "receiver_for_token", lost)
    response = client.post(f"/api/v1/inbound/{source.inbound_token}", data=b"{}",
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_a_call_refused_before_it_is_made_gives_its_slot_back_at_once(acme, source, settings):
    from apps.core import redis
    from apps.tenants import limits
    from apps.tenants.services import tenant_save

    acme.tenant.limits = {"proxy": {"key": 1}}
    tenant_save(tenant=acme.tenant)
    limits.forget()
    api = acme.api()
    assert api.get("/api/v1/proxy/root/get").status_code == 200
    held = redis.key(f"slots:upstream:{acme.tenant.pk}")
    for _ in range(3):
        refused = api.get("/api/v1/proxy/root/get")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        # The slot the refused call took is back already, not later.
        assert redis.client().zcard(held) == 0
