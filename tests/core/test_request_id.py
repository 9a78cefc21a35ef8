"""The request id: taken from X-Request-ID when sane, else made; returned; on every log line of
the request (Django's own and the outbound client's included) and carried into Celery tasks."""

import io
import logging
import re
from types import SimpleNamespace

import pytest

from apps.core import request_id, task_context
from apps.core.request_id import RequestIdFilter
from tests.factories import DataSourceFactory

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """What the configured console handler writes while the test runs (the real handler, with
    its filter and format), as a list of lines read at the end."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RequestIdFilter) for f in h.filters)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        handler.setStream(previous)


def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "given",
    ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "Root=1-67891233-abcdef012345678912345678",
     "trace:span/9+x_y.z", "x" * 100],
)  # fmt: skip
def test_a_sane_id_is_kept_and_returned(client, given):
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    ["", "x" * 101, "two words", "evil\r\nSet-Cookie: a=b", "line\nbreak", "<script>", 'quo"te',
     "semi;colon", "ünïcode", "%0d%0a", "a\x00b"],
)  # fmt: skip
def test_an_unsafe_id_is_replaced(client, given):
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"]

    assert GENERATED.fullmatch(returned)


def test_an_api_error_carries_the_id_too(client, acme):
    response = client.get(
        "/api/v1/items/nope/", HTTP_AUTHORIZATION=f"Bearer {acme.admin_key_raw}",
        HTTP_X_REQUEST_ID="api-404",
    )  # fmt: skip

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response["X-Request-ID"] == "api-404"


def test_log_lines_of_a_request_carry_its_id_and_others_do_not(client, log_lines):
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="find-me-1")
    logging.getLogger("plugboard.test").warning("after the request")

    lines = log_lines()
    assert any("django.request [find-me-1] Not Found: /no-such-page/" in line for line in lines)
    assert any("plugboard.test [-] after the request" in line for line in lines), lines


def test_the_outbound_clients_lines_carry_the_id_of_the_request(client, acme, upstream, log_lines):
    DataSourceFactory(tenant=acme.tenant, slug="root", base_url=upstream.url())

    response = client.get(
        "/api/v1/proxy/root/get?x=1", HTTP_AUTHORIZATION=f"Bearer {acme.admin_key_raw}",
        HTTP_X_REQUEST_ID="proxied-7",
    )  # fmt: skip
    if response.streaming:
        b"".join(response.streaming_content)  # the call is logged when its stream is closed

    assert response.status_code == 200
    outbound = [line for line in log_lines() if "plugboard.outbound" in line]
    assert outbound and all("[proxied-7]" in line for line in outbound), outbound
    assert "/get?x=" in outbound[0] and "-> 200" in outbound[0]


def test_a_task_sent_during_a_request_carries_the_id_in_its_headers():
    headers: dict = {}
    request_id.activate("req-to-task")
    try:
        task_context._send_request_id(headers=headers)
    finally:
        request_id.activate(None)
    assert headers == {request_id.TASK_HEADER: "req-to-task"}

    task = SimpleNamespace(request=SimpleNamespace(**headers))
    task_context._take_request_id(task=task)
    try:
        assert request_id.current() == "req-to-task"
    finally:
        task_context._drop_request_id()
    assert request_id.current() is None


def test_a_task_outside_a_request_carries_none_and_a_forged_one_is_dropped():
    headers: dict = {}
    task_context._send_request_id(headers=headers)
    assert headers == {}

    forged = SimpleNamespace(request=SimpleNamespace(**{request_id.TASK_HEADER: "a\nb"}))
    task_context._take_request_id(task=forged)
    assert request_id.current() is None
