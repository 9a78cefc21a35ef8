"""The proxy under gunicorn: paths exactly as a client writes them, and bodies streamed with
bounded memory. Rows are committed (the server is another process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from tests.factories import DataSourceFactory
from tests.proxy.conftest import raw_call
from tests.support.servers import UPSTREAM_IP

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(acme, upstream_server, plugboard_server):
    """A data source at the upstream's exact-echo route, by address (the server process has no
    test names), and the admin key to call it with."""
    DataSourceFactory(
        tenant=acme.tenant, slug="raw",
        base_url=f"https://{UPSTREAM_IP}:{upstream_server.port}/_test/raw",
    )  # fmt: skip
    DataSourceFactory(
        tenant=acme.tenant, slug="root", base_url=f"https://{UPSTREAM_IP}:{upstream_server.port}"
    )
    return {"Authorization": f"Bearer {acme.admin_key_raw}"}


ESCAPES = ["../x", "..%2Fx", "%2e%2e/x", ".%2E/x", "a/../../x", "a/%2e%2e/%2e%2e/x",
           "a%2F..%2F..%2Fx", "%5C..%5Cx", "a/./b", "%2F%2F127.0.0.1:{canary}/x",
           "/127.0.0.1:{canary}/x", "a//b"]  # fmt: skip


@pytest.mark.parametrize("payload", ESCAPES)
def test_a_path_that_could_leave_the_base_url_is_refused_before_any_connection(
    served, plugboard_server, canary, counters, payload
):
    target = "/api/v1/proxy/raw/" + payload.format(canary=canary.port)

    status, _, body = raw_call(plugboard_server.port, "GET", target, served)

    assert status == 400, body[:300]
    assert json.loads(body)["error"]["code"] == "invalid_path"
    assert canary.connections == []
    assert counters._get("/_test/counts") == {}  # nothing reached the upstream either


def test_an_at_sign_stays_a_path_segment_under_the_base(served, plugboard_server, canary):
    status, _, body = raw_call(
        plugboard_server.port, "GET", f"/api/v1/proxy/raw/@127.0.0.1:{canary.port}/x?q=%2F", served
    )
    assert status == 200
    assert json.loads(body)["raw_uri"] == f"/_test/raw/@127.0.0.1:{canary.port}/x?q=%2F"
    assert canary.connections == []


def test_encoded_bytes_of_a_path_and_query_reach_the_upstream_as_written(served, plugboard_server):
    target = "/api/v1/proxy/raw/a%20b/%7Euser/caf%C3%A9?x=%41&y=1+2&z=%2f&&w"
    status, _, body = raw_call(plugboard_server.port, "GET", target, served)
    assert status == 200
    assert json.loads(body)["raw_uri"] == "/_test/raw/a%20b/%7Euser/caf%C3%A9?x=%41&y=1+2&z=%2f&&w"


def _peak_rss_kb(pid: int) -> int:
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    peaks = []
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))
    return sum(peaks)


def test_a_20_mb_answer_streams_through_with_bounded_memory(served, plugboard_server):
    size = 20 * 2**20
    warm = requests.get(plugboard_server.url("/api/v1/proxy/root/_test/big?size=65536&announce=1"),
                        headers=served, timeout=60)  # fmt: skip
    assert warm.status_code == 200
    before = _peak_rss_kb(plugboard_server.process.proc.pid)

    received = 0
    with requests.get(plugboard_server.url(f"/api/v1/proxy/root/_test/big?size={size}&announce=1"),
                      headers=served, stream=True, timeout=60) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(65536):
            received += len(chunk)
    growth_mb = (_peak_rss_kb(plugboard_server.process.proc.pid) - before) / 1024

    assert received == size
    assert growth_mb < 8, f"the web processes grew {growth_mb:.1f} MB for a 20 MB answer"


def test_an_unannounced_30_mb_answer_is_refused_with_bounded_memory(served, plugboard_server):
    before = _peak_rss_kb(plugboard_server.process.proc.pid)
    response = requests.get(plugboard_server.url(f"/api/v1/proxy/root/_test/big?size={30 * 2**20}"),
                            headers=served, timeout=60)  # fmt: skip
    growth_mb = (_peak_rss_kb(plugboard_server.process.proc.pid) - before) / 1024

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "response_too_large"
    assert growth_mb < 8, f"the web processes grew {growth_mb:.1f} MB for a 30 MB answer"


def test_a_chunked_request_body_is_streamed_and_refused_past_20_mb(served, plugboard_server):
    def chunks(total: int):
        for _ in range(total // 65536):
            yield b"y" * 65536

    small = requests.post(plugboard_server.url("/api/v1/proxy/raw/up?mirror=1"),
                          data=chunks(2 * 2**20), headers=served, timeout=60)  # fmt: skip
    assert small.status_code == 200 and len(small.content) == 2 * 2**20
    big = requests.post(plugboard_server.url("/api/v1/proxy/raw/up?mirror=1"),
                        data=chunks(21 * 2**20), headers=served, timeout=60)  # fmt: skip
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "request_too_large"
