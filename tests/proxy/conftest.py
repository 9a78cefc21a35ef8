import base64
import http.client
import json

import pytest

from tests.factories import DataSourceFactory


def echo(response) -> dict:
    assert response.status_code == 200, response.content[:500]
    document = json.loads(response.content)
    document["body"] = base64.b64decode(document.pop("body_b64"))
    return document


@pytest.fixture
def raw_source(acme, upstream):
    """A data source whose base path is the upstream's exact-echo route, with a custom header
    and Basic auth."""
    return DataSourceFactory(
        tenant=acme.tenant, name="Raw", slug="raw", base_url=upstream.url("/_test/raw"),
        headers=[{"name": "X-Env", "value": "e2e"}], auth_mode="basic",
        auth_config={"username": "elements"}, secrets={"password": "connect-canary"},
    )  # fmt: skip


@pytest.fixture
def root_source(acme, upstream):
    """A data source at the upstream's root (httpbin and the test routes)."""
    return DataSourceFactory(
        tenant=acme.tenant, name="Root", slug="root", base_url=upstream.url(), timeout_seconds=10
    )


def raw_call(port: int, method: str, target: str, headers: dict | None = None, body=None):
    """Send a request line exactly as written (no client-side normalisation of the path)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
