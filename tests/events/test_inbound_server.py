"""The inbound endpoint under gunicorn (2 workers, 4 threads each): chunked bodies, the size limit
before a body is read, and one event for a webhook-id sent many times at once."""

import http.client
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.events.inbound import MAX_BODY
from apps.events.models import Event
from tests.factories import DataSourceFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target(acme, plugboard_server):
    datasource = DataSourceFactory(tenant=acme.tenant)
    datasource.refresh_from_db()
    return datasource, f"/api/v1/inbound/{datasource.inbound_token}"


def send(port: int, path: str, chunks, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if isinstance(chunks, bytes):
            conn.putheader("Content-Length", str(len(chunks)))
            conn.endheaders(chunks)
        else:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in chunks:
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_chunked_body_is_recorded_whole(target, plugboard_server):
    datasource, path = target
    parts = [b'{"part": 1, ', b'"more": "' + b"x" * 100_000 + b'"}']
    status, body = send(plugboard_server.port, path, parts)
    assert status == 202, body
    assert bytes(Event.objects.get(datasource=datasource).body) == b"".join(parts)


def test_a_chunked_body_over_1_mb_is_413(target, plugboard_server):
    datasource, path = target
    status, _ = send(plugboard_server.port, path, [b"x" * 300_000] * 4)
    assert status == 413
    assert not Event.objects.filter(datasource=datasource).exists()


def test_an_announced_length_over_1_mb_is_refused_before_reading(target, plugboard_server):
    _, path = target
    conn = http.client.HTTPConnection("127.0.0.1", plugboard_server.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Length", str(MAX_BODY * 5))
        conn.endheaders(b"{}")  # 2 bytes sent of 5 MB announced: the answer does not wait
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()


def test_one_webhook_id_sent_many_times_at_once_is_one_event(target, plugboard_server):
    datasource, path = target
    body = b'{"same": true}'
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: send(plugboard_server.port, path, body, {"webhook-id": "msg_race"}),
            range(16)))  # fmt: skip
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(202) == 1 and statuses.count(200) == 15, statuses
    assert Event.objects.filter(datasource=datasource).count() == 1
