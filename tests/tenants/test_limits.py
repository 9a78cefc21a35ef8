"""Rate limits: per API key and per tenant on the options endpoint (both of its ways), the proxy,
bulk job creation and inbound events (per inbound URL), with 429, Retry-After and the contract's
error body; a tenant's own limits set by a superuser; Redis down lets requests through."""

import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import override_settings
from rest_framework.test import APIClient

from apps.core import redis
from apps.core.ratelimit import WINDOW
from apps.items.services import item_create
from apps.tenants import limits
from apps.tenants.services import api_key_create, tenant_save
from tests.bulk.conftest import csv_bytes, upload
from tests.factories import DataSourceFactory
from tests.support.worker import wait_until


@pytest.fixture(autouse=True)
def one_window():
    """Counters are per minute: a test starts with time enough left in its minute (at most
    12 s of waiting), so that its calls all fall into one window."""
    left = WINDOW - time.time() % WINDOW
    if left < 12:
        time.sleep(left + 0.05)
    limits.forget()
    yield
    limits.forget()


def set_limits(tenant, **overrides):
    tenant.limits = overrides
    tenant_save(tenant=tenant)


@pytest.fixture
def projects(acme, upstream):
    source = DataSourceFactory(tenant=acme.tenant, base_url=upstream.url())
    return item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(source.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip


def client_with(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def assert_limited(response, scope: str, limit: int) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["scope"] == scope and error["details"]["limit"] == limit
    assert f"{limit:,}" in error["message"]
    assert 1 <= int(response["Retry-After"]) <= WINDOW


def test_an_api_key_gets_its_options_calls_a_minute_then_429(acme, projects):
    set_limits(acme.tenant, options={"key": 3})
    client = client_with(acme.admin_key_raw)
    statuses = [client.get("/api/v1/items/project/options/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # the first by the full way, then from memory
    assert_limited(client.get("/api/v1/items/project/options/"), "options:key", 3)
    # Another key of the tenant has its own count.
    _, other = api_key_create(tenant=acme.tenant, scope="admin", name="other")
    assert client_with(other).get("/api/v1/items/project/options/").status_code == 200


def test_a_tenant_gets_its_options_calls_a_minute_whatever_the_keys(acme, globex, projects):
    set_limits(acme.tenant, options={"tenant": 4})
    keys = [api_key_create(tenant=acme.tenant, scope="admin", name=f"k{n}")[1] for n in range(4)]
    for raw in keys:
        assert client_with(raw).get("/api/v1/items/project/options/").status_code == 200
    assert_limited(client_with(acme.admin_key_raw).get("/api/v1/items/project/options/"),
                   "options:tenant", 4)  # fmt: skip
    # Another tenant is not held back by it.
    assert globex.api().get("/api/v1/items/project/options/").status_code == 404


def test_the_proxy_is_limited_per_key(acme, upstream):
    DataSourceFactory(tenant=acme.tenant, slug="root", base_url=upstream.url())
    set_limits(acme.tenant, proxy={"key": 2})
    client = acme.api()
    assert [client.get("/api/v1/proxy/root/get").status_code for _ in range(2)] == [200, 200]
    assert_limited(client.get("/api/v1/proxy/root/get"), "proxy:key", 2)


def test_bulk_jobs_are_limited_per_tenant(acme, settings):
    settings.BULK_QUEUE = f"bulk-nobody-{settings.RUN_TAG}"
    source = DataSourceFactory(tenant=acme.tenant)
    set_limits(acme.tenant, bulk={"tenant": 2})
    rows = csv_bytes([["n"], ["1"]])
    assert [upload(acme.api(), source, rows, "/x").status_code for _ in range(2)] == [201, 201]
    assert_limited(upload(acme.api(), source, rows, "/x"), "bulk:tenant", 2)


def test_inbound_events_are_limited_per_inbound_url(acme, client):
    source = DataSourceFactory(tenant=acme.tenant)
    other = DataSourceFactory(tenant=acme.tenant)
    set_limits(acme.tenant, inbound={"source": 3})
    for datasource in (source, other):
        datasource.refresh_from_db()
    url = f"/api/v1/inbound/{source.inbound_token}"
    statuses = [client.post(url, data=b"{}", content_type="application/json").status_code
                for _ in range(3)]  # fmt: skip
    assert statuses == [202, 202, 202]
    assert_limited(client.post(url, data=b"{}", content_type="application/json"),
                   "inbound:source", 3)  # fmt: skip
    assert client.post(f"/api/v1/inbound/{other.inbound_token}", data=b"{}",
                       content_type="application/json").status_code == 202  # fmt: skip


def test_zero_means_no_limit_and_defaults_come_from_the_settings(acme, projects, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "options": {"key": 2, "tenant": 0}}
    limits.forget()
    client = acme.api()
    assert [client.get("/api/v1/items/project/options/").status_code for _ in range(2)] == [200] * 2
    assert client.get("/api/v1/items/project/options/").status_code == 429
    set_limits(acme.tenant, options={"key": 0})
    assert client.get("/api/v1/items/project/options/").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ("options", "Give an object"),
        ({"options": 5}, "takes key, tenant"),
        ({"options": {"source": 5}}, "takes key, tenant"),
        ({"inbound": {"key": 5}}, "takes source, tenant"),
        ({"speed": 1}, "is not a limit"),
        ({"proxy": {"key": -1}}, "whole numbers"),
        ({"proxy": {"key": 1.5}}, "whole numbers"),
        ({"upstream_concurrency": True}, "whole numbers"),
    ],
)
def test_a_tenants_limits_are_checked_when_saved(acme, overrides, reason):
    acme.tenant.limits = overrides
    with pytest.raises(ValidationError, match=reason):
        tenant_save(tenant=acme.tenant)


def test_a_superuser_sets_a_tenants_limits_in_the_admin(acme, admin_client, projects):
    response = admin_client.post(
        f"/admin/tenants/tenant/{acme.tenant.pk}/change/",
        {"name": acme.tenant.name, "slug": acme.tenant.slug, "limits": '{"options": {"key": 1}}',
         "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    acme.tenant.refresh_from_db()
    assert acme.tenant.limits == {"options": {"key": 1}}
    client = acme.api()
    assert client.get("/api/v1/items/project/options/").status_code == 200
    assert client.get("/api/v1/items/project/options/").status_code == 429


def test_with_redis_down_requests_go_through(acme, projects):
    set_limits(acme.tenant, options={"key": 1})
    down = {"default": {"BACKEND": "django_redis.cache.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0",
                        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}}  # fmt: skip
    with override_settings(CACHES=down):
        statuses = [acme.api().get("/api/v1/items/project/options/").status_code
                    for _ in range(3)]  # fmt: skip
    assert statuses == [200, 200, 200]


@pytest.mark.django_db(transaction=True)
def test_a_tenant_has_at_most_its_cap_of_upstream_calls_in_flight(acme, globex, upstream):
    import threading

    DataSourceFactory(tenant=acme.tenant, slug="slow", base_url=upstream.url(), timeout_seconds=5)
    DataSourceFactory(tenant=acme.tenant, slug="quick", base_url=upstream.url(), timeout_seconds=1)
    DataSourceFactory(tenant=globex.tenant, slug="quick", base_url=upstream.url())
    set_limits(acme.tenant, upstream_concurrency=1)
    first: list = []

    def call_slowly() -> None:
        try:
            first.append(acme.api().get("/api/v1/proxy/slow/delay/2").status_code)
        finally:
            connections.close_all()  # this thread's own database connection

    holder = threading.Thread(target=call_slowly)
    holder.start()
    held = redis.key(f"slots:upstream:{acme.tenant.pk}")
    wait_until(lambda: redis.client().zcard(held) >= 1, timeout=10)  # the first call holds it
    started = time.monotonic()
    busy = acme.api().get("/api/v1/proxy/quick/get")
    assert busy.status_code == 429, busy.content
    assert busy.json()["error"]["code"] == "upstream_busy" and busy["Retry-After"] == "1"
    assert 0.9 < time.monotonic() - started < 2  # waited its own timeout for a slot
    assert globex.api().get("/api/v1/proxy/quick/get").status_code == 200  # another tenant
    holder.join()
    assert first == [200]
    assert acme.api().get("/api/v1/proxy/quick/get").status_code == 200  # the slot came back


def test_a_tenants_cached_options_stay_within_its_bytes_oldest_out_first(acme, globex, upstream):
    from apps.items.cache import quota
    from apps.items.cache.indexes import purge_expired

    items = {}
    for world in (acme, globex):
        source = DataSourceFactory(tenant=world.tenant, base_url=upstream.url())
        items[world.tenant.slug] = item_create(tenant=world.tenant, data={
            "key": "varying", "name": "Varying", "datasource": str(source.pk),
            "path": "/_test/data/projects?v={v}", "value": "{key}", "label": "{name}",
        })  # fmt: skip
    url = "/api/v1/items/varying/options/?v={}"
    first = acme.api().get(url.format(0))
    assert first.json()["cache"] == "miss"
    one_entry = quota.total(acme.tenant.pk)
    assert one_entry > 0
    set_limits(acme.tenant, cache_bytes=int(one_entry * 2.5))  # room for two entries
    assert globex.api().get(url.format(0)).json()["cache"] == "miss"
    for v in (1, 2):
        assert acme.api().get(url.format(v)).json()["cache"] == "miss"
    assert quota.total(acme.tenant.pk) <= one_entry * 2.5
    # The oldest (v=0) went; the two newest are still there; the other tenant kept its own.
    assert acme.api().get(url.format(0)).json()["cache"] == "miss"
    assert acme.api().get(url.format(2)).json()["cache"] == "hit"
    assert globex.api().get(url.format(0)).json()["cache"] == "hit"
    # Expired entries stop being counted.
    purge_expired(now=time.time() + 3600)
    assert quota.total(acme.tenant.pk) == 0 and quota.total(globex.tenant.pk) == 0
