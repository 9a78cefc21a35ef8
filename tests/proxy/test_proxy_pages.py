"""Call statistics (API and page), "Try it" on the data source page, and the OpenAPI
description of the proxy."""

from __future__ import annotations

import pytest

from apps.proxy import stats
from tests.factories import DataSourceFactory


@pytest.fixture(autouse=True)
def _pending_statistics_cleared():
    stats.flush()
    yield
    stats.flush()


def test_calls_errors_and_latency_are_counted_per_data_source(acme, globex, root_source):
    api = acme.api()
    for _ in range(3):
        assert api.get("/api/v1/proxy/root/get").status_code == 200
    assert api.get("/api/v1/proxy/root/status/503").status_code == 503
    assert api.get("/api/v1/proxy/root/_test/rate-limited").status_code == 429

    figures = api.get(f"/api/v1/datasources/{root_source.pk}/stats/").json()

    assert figures["calls"] == 5 and figures["errors"] == 2
    assert figures["by_class"]["2xx"] == 3
    assert figures["by_class"]["5xx"] == 1 and figures["by_class"]["4xx"] == 1
    assert figures["latency_ms"]["p50"] is not None and figures["latency_ms"]["p95"] >= 5
    assert globex.api().get(f"/api/v1/datasources/{root_source.pk}/stats/").status_code == 404


def test_the_page_shows_the_figures_and_try_it_masks_echoed_credentials(
    acme, upstream, session_client, victor
):
    secret = "try-it-secret-canary"
    ds = DataSourceFactory(tenant=acme.tenant, slug="echo", base_url=upstream.url(),
                           auth_mode="api_key", auth_config={"name": "X-API-Key", "in": "header"},
                           secrets={"value": secret})  # fmt: skip
    client = session_client(acme.owner)
    page = client.get(f"/t/acme/datasources/{ds.pk}/").content.decode()
    assert 'id="proxy-panel"' in page and 'id="try-it"' in page
    assert "/api/v1/proxy/echo/" in page

    tried = client.post(f"/t/acme/datasources/{ds.pk}/try/",
                        {"method": "GET", "path": "/_test/data/echo-credential"}).json()  # fmt: skip
    assert tried["ok"] is True and tried["status"] == 200
    assert secret not in str(tried) and "[secret]" in tried["body"]

    figures = client.get(f"/t/acme/datasources/{ds.pk}/").content.decode()
    assert '<td id="proxy-calls">1</td>' in figures

    viewer = session_client(victor)
    assert 'id="try-it"' not in viewer.get(f"/t/acme/datasources/{ds.pk}/").content.decode()
    assert viewer.post(f"/t/acme/datasources/{ds.pk}/try/", {"method": "GET"}).status_code == 403


def test_the_proxy_is_described_in_the_schema_with_an_example_per_method(acme, client):
    client.force_login(acme.owner)
    schema = client.get("/api/schema/", {"format": "json"}).json()

    operations = schema["paths"]["/api/v1/proxy/{slug}/{path}"]
    assert set(operations) >= {"get", "post", "put", "patch", "delete"}
    for method in ("get", "post", "put", "patch", "delete"):
        assert operations[method]["summary"].startswith(f"Proxy a {method.upper()} call")
        assert "Example: /api/v1/proxy/" in operations[method]["description"]
    for method in ("post", "put", "patch"):
        examples = operations[method]["requestBody"]["content"]["application/json"]["examples"]
        assert examples
