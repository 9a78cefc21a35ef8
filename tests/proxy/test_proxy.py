"""The pass-through proxy against real HTTPS upstreams on loopback: what is forwarded each way,
what never is, paths that would leave the base URL, sizes, deadlines, tokens, access."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from apps.tenants.services import api_key_create
from tests.factories import DataSourceFactory
from tests.proxy.conftest import echo

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_forwards_path_query_body_and_headers_and_adds_the_sources_own(
    acme, raw_source, method
):
    body = b'{"name": "caf\\u00e9", "n": 1}' if method != "GET" else b""
    response = acme.api().generic(
        method, "/api/v1/proxy/raw/things/%C3%A9/1?b=2&a=%20x&a=1&empty=&flag", body,
        content_type="application/json", HTTP_X_CUSTOM="yes", HTTP_ACCEPT="application/json",
    )  # fmt: skip

    seen = echo(response)
    assert seen["method"] == method
    assert seen["raw_uri"] == "/_test/raw/things/%C3%A9/1?b=2&a=%20x&a=1&empty=&flag"
    assert seen["body"] == body
    headers = seen["headers"]
    assert headers["X-Custom"] == "yes" and headers["Accept"] == "application/json"
    assert headers["X-Env"] == "e2e"  # the data source's header
    assert headers["Authorization"].startswith("Basic ")  # its credentials, not the caller's
    if body:
        assert headers["Content-Type"] == "application/json"
    assert "connect-canary" not in response.content.decode()


def test_forbidden_client_headers_are_dropped(acme, raw_source):
    response = acme.api().get(
        "/api/v1/proxy/raw/h",
        HTTP_COOKIE="sessionid=abc", HTTP_PROXY_AUTHORIZATION="Basic eA==", HTTP_PROXY_FOO="1",
        HTTP_X_PLUGBOARD_TENANT="acme", HTTP_FORWARDED="for=1.2.3.4",
        HTTP_X_FORWARDED_FOR="1.2.3.4", HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_CONNECTION="keep-alive, X-Hop-Secret", HTTP_X_HOP_SECRET="hop", HTTP_KEEP_ALIVE="5",
        HTTP_TE="trailers", HTTP_UPGRADE="websocket", HTTP_X_KEPT="kept",
    )  # fmt: skip

    headers = echo(response)["headers"]
    assert headers["X-Kept"] == "kept"
    for name in ("Cookie", "Proxy-Authorization", "Proxy-Foo", "X-Plugboard-Tenant",
                 "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Hop-Secret",
                 "Keep-Alive", "Te", "Upgrade"):  # fmt: skip
        assert name not in headers, name
    assert not headers["Authorization"].startswith("Bearer")  # the caller's key stays here


def test_binary_bodies_cross_intact_both_ways(acme, raw_source):
    payload = os.urandom(300_000)

    response = acme.api().generic(
        "POST", "/api/v1/proxy/raw/bin?mirror=1", payload, content_type="application/octet-stream"
    )

    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content == payload
    assert response["Content-Type"] == "application/octet-stream"


def test_upstream_statuses_and_retry_after_pass_through(acme, root_source):
    limited = acme.api().get("/api/v1/proxy/root/_test/rate-limited?retry_after=7")
    assert limited.status_code == 429 and limited["Retry-After"] == "7"
    teapot = acme.api().get("/api/v1/proxy/root/status/418")
    assert teapot.status_code == 418


def test_nothing_is_cached(acme, raw_source, counters):
    for _ in range(3):
        assert acme.api().get("/api/v1/proxy/raw/count").status_code == 200
    assert counters.calls("/_test/raw/count") == 3


def test_headers_a_client_needs_come_back_rewritten_into_the_proxy(acme, root_source, upstream):
    inside = upstream.url("/_test/raw/next?page=2")
    response = acme.api().get(
        "/api/v1/proxy/root/response-headers",
        {"Location": inside, "Link": f'<{inside}>; rel="next", <https://example.org/x>; rel="x"',
         "ETag": '"v1"', "X-RateLimit-Remaining": "9", "Set-Cookie": "a=b",
         "Access-Control-Allow-Origin": "*", "X-Internal": "secret"},
    )  # fmt: skip

    assert response.status_code == 200
    proxied = "http://testserver/api/v1/proxy/root/_test/raw/next?page=2"
    assert response["Location"] == proxied
    assert response["Link"] == f'<{proxied}>; rel="next", <https://example.org/x>; rel="x"'
    assert response["ETag"] == '"v1"' and response["X-RateLimit-Remaining"] == "9"
    for name in ("Set-Cookie", "Access-Control-Allow-Origin", "X-Internal"):
        assert name not in response
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_the_proxys_sandbox_policy_survives_the_sites_own(acme, root_source, settings):
    """The site's CSP middleware sets its policy only where a response has none: a proxied
    HTML answer keeps the sandbox, never the site's (which would let it run as a page here)."""
    response = acme.api().get("/api/v1/proxy/root/html", HTTP_ACCEPT="text/html")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "script-src" not in str(response.headers)
    assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY


def test_a_request_body_over_20_mb_is_refused_before_it_is_read(acme, raw_source, counters):
    response = acme.api().generic(
        "POST", "/api/v1/proxy/raw/big", b"x", content_type="application/octet-stream",
        CONTENT_LENGTH=str(21 * 1024 * 1024),
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert counters.calls("/_test/raw/big") == 0


def test_an_answer_announced_over_20_mb_is_refused(acme, root_source):
    response = acme.api().get(f"/api/v1/proxy/root/_test/big?size={30 * 2**20}&announce=1")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "response_too_large"


def test_an_unannounced_answer_over_20_mb_is_refused_with_bounded_memory(acme, root_source):
    import tracemalloc

    tracemalloc.start()
    try:
        response = acme.api().get(f"/api/v1/proxy/root/_test/big?size={30 * 2**20}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "response_too_large"
    assert peak < 6 * 2**20, f"peak {peak / 2**20:.1f} MB for a 30 MB answer"


def test_a_dripping_upstream_is_cut_off_at_the_deadline(acme, upstream):
    import time

    DataSourceFactory(tenant=acme.tenant, slug="slow", base_url=upstream.url(), timeout_seconds=2)
    started = time.monotonic()
    response = acme.api().get("/api/v1/proxy/slow/drip?duration=8&numbytes=8&delay=0")
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert 1.5 <= elapsed < 5


def test_an_unknown_slug_and_another_tenants_slug_are_404(acme, globex, raw_source):
    assert acme.api().get("/api/v1/proxy/nope/x").status_code == 404
    response = globex.api().get("/api/v1/proxy/raw/x")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_widget_keys_and_viewers_are_refused(acme, raw_source, victor, api_session):
    _, widget = api_key_create(tenant=acme.tenant, scope="widget", origins=["https://a.example"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {widget}")
    refused = client.get("/api/v1/proxy/raw/x")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "scope_not_allowed"

    viewer = api_session(victor, "acme").get("/api/v1/proxy/raw/x")
    assert viewer.status_code == 403


def test_an_admins_session_may_proxy_and_its_csrf_token_is_checked(acme, raw_source, api_session):
    session = api_session(acme.owner, "acme")
    assert session.get("/api/v1/proxy/raw/x").status_code == 200
    without_token = session.post("/api/v1/proxy/raw/x", {"a": 1}, format="json")
    assert without_token.status_code == 403


@pytest.mark.parametrize(
    "location", ["https://example.org/x", "//example.org/x", "/elsewhere", "/response-headers-x"]
)
def test_a_location_outside_the_data_source_is_not_passed_back(acme, upstream, location):
    DataSourceFactory(tenant=acme.tenant, name="Headers", slug="hdrs",
                      base_url=upstream.url("/response-headers"))  # fmt: skip
    response = acme.api().get("/api/v1/proxy/hdrs/", {"Location": location, "ETag": '"v2"'})

    assert response.status_code == 200, response.content
    assert "Location" not in response
    assert response["ETag"] == '"v2"'
