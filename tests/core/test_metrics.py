"""/metrics: never public (404 without the configured token), and its counters follow what
happens — requests by route, options cache outcomes, upstream calls by data source and outcome,
queue depths read from the broker."""

import uuid

import pytest
import redis
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from apps.core import metrics
from apps.items.services import item_create
from tests.factories import DataSourceFactory
from tests.support.servers import UPSTREAM_IP, free_port

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def scrape(client, settings):
    """Scrape /metrics with the token; returns {(name, frozenset(labels)): value}."""
    settings.METRICS_TOKEN = TOKEN

    def read() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content[:300]
        assert response["Content-Type"].startswith("text/plain")
        values = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return values

    return read


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_is_a_404_while_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN]
)
def test_metrics_is_a_404_without_the_right_token(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = client.get("/metrics", **extra)

    assert response.status_code == 404
    assert b"plugboard_" not in response.content


def test_requests_are_counted_by_route_name_not_by_path(db, client, scrape):
    before = scrape()
    client.get("/healthz")
    client.get(f"/no-such-page-{uuid.uuid4().hex}/")
    client.generic("BREW", "/healthz")  # any method word a client sends is one label value
    after = scrape()

    def delta(route, method, status):
        return moved(before, after, "plugboard_http_requests_total",
                     route=route, method=method, status=status)  # fmt: skip

    assert delta("healthz", "GET", "200") == 1
    assert delta("unmatched", "GET", "404") == 1
    assert delta("healthz", "other", "200") == 1
    assert not any("no-such-page" in str(key) for key in after)
    assert value(after, "plugboard_http_request_duration_seconds_count",
                 route="healthz", method="GET") >= 1  # fmt: skip


def test_options_hits_misses_and_upstream_calls_are_counted(client, acme, upstream, scrape):
    source = DataSourceFactory(tenant=acme.tenant, slug="tracker", base_url=upstream.url())
    item_create(tenant=acme.tenant, data={
        "key": "project", "name": "Project", "datasource": str(source.pk),
        "path": "/_test/data/projects", "value": "{key}", "label": "{name}",
    })  # fmt: skip
    auth = {"HTTP_AUTHORIZATION": f"Bearer {acme.admin_key_raw}"}
    calls = {"datasource": str(source.pk), "purpose": "api", "outcome": "2xx"}
    before = scrape()

    first = client.get("/api/v1/items/project/options/", **auth)
    second = client.get("/api/v1/items/project/options/?q=plug", **auth)
    proxied = client.get("/api/v1/proxy/tracker/_test/data/projects", **auth)
    if proxied.streaming:
        b"".join(proxied.streaming_content)
    after = scrape()

    assert (first.json()["cache"], second.json()["cache"], proxied.status_code) == (
        "miss", "hit", 200,
    )  # fmt: skip
    for outcome in ("miss", "hit"):
        assert moved(before, after, "plugboard_options_cache_total", outcome=outcome) == 1
    # The miss and the proxied call; the hit made none.
    assert moved(before, after, "plugboard_upstream_calls_total", **calls) == 2
    routes = {"route": "item-options", "method": "GET", "status": "200"}
    assert moved(before, after, "plugboard_http_requests_total", **routes) == 2
    assert not any(upstream.url() in str(key) or "_test/data" in str(key) for key in after)


def test_upstream_failures_are_counted_by_error_code(client, acme, upstream, scrape):
    closed = free_port(UPSTREAM_IP)  # nothing listens there
    source = DataSourceFactory(tenant=acme.tenant, slug="gone",
                               base_url=f"https://{UPSTREAM_IP}:{closed}")  # fmt: skip
    labels = {"datasource": str(source.pk), "purpose": "api", "outcome": "upstream_unreachable"}

    response = client.get(
        "/api/v1/proxy/gone/anything", HTTP_AUTHORIZATION=f"Bearer {acme.admin_key_raw}"
    )

    assert response.status_code == 502
    assert value(scrape(), "plugboard_upstream_calls_total", **labels) == 1


def test_queue_depth_is_read_from_the_broker_at_scrape_time(scrape, settings):
    queue = f"metrics-depth-{uuid.uuid4().hex[:8]}"
    settings.EVENTS_QUEUE = queue
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        broker.lpush(queue, "m1", "m2")
        broker.lpush(f"{queue}\x06\x163", "m3")  # a priority-3 message
        scraped = scrape()
    finally:
        broker.delete(queue, f"{queue}\x06\x163")
        broker.close()

    assert value(scraped, "plugboard_queue_depth", queue=queue) == 3
    assert value(scraped, "plugboard_queue_depth_readable") == 1


def test_an_unreachable_broker_does_not_fail_the_scrape(scrape, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port('127.0.0.1')}/0"

    scraped = scrape()

    assert value(scraped, "plugboard_queue_depth_readable") == 0
    assert not any(name == "plugboard_queue_depth" for name, _ in scraped)


@pytest.mark.parametrize(
    ("pool", "labels"),
    [
        ("connection:datasource:5f0c5d3e-4a8b", ("5f0c5d3e-4a8b", "api")),
        ("events:5f0c5d3e-4a8b", ("5f0c5d3e-4a8b", "events")),
        ("default", ("", "other")),
    ],
)
def test_upstream_labels_come_from_the_pool_never_from_a_url(pool, labels):
    assert metrics.upstream_labels(pool) == labels
