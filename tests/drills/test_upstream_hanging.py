"""Drill: an upstream that accepts the connection and then answers nothing, on every path the
product calls out on. Each is bounded by its own deadline — the data source's
``timeout_seconds`` for its calls, ``EVENTS_DELIVERY_TIMEOUT`` for a delivery — and reports the
timeout in its own way: options and the proxy 504 ``upstream_timeout``, the connection test a
failed step, an event delivery an attempt recorded as timed out, a bulk row a failed row after
its three attempts, a poll an error on its state, a token refresh a failure on the data source.

Two ways of hanging: ``hang`` (the TLS handshake never completes) and ``tls-hang`` (the handshake
completes, the request is read, no answer ever comes).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.drills.relay import Relay
from tests.drills.stack import (
    Api,
    create_datasource,
    create_item,
    error_code,
    timed,
    wait_for,
)
from tests.support.servers import UPSTREAM_IP
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.drill, pytest.mark.timeout(150)]

TIMEOUT = 2  # the data sources' timeout_seconds
DELIVERY_TIMEOUT = 2  # EVENTS_DELIVERY_TIMEOUT
# What may come on top of a deadline: the request's own work around the call.
MARGIN = 1.5
# How the product says a deadline passed ("did not answer in time", "... within 2 seconds").
TIMED_OUT = re.compile(r"in time|within \d+ seconds?")


@pytest.fixture(scope="module")
def servers(pki):
    cert = (pki.cert_pem, pki.key_pem)
    hang = Relay(UPSTREAM_IP, mode="hang")
    tls_hang = Relay(UPSTREAM_IP, mode="tls-hang", cert=cert)
    yield {"hang": hang, "tls-hang": tls_hang}
    hang.stop()
    tls_hang.stop()


@pytest.fixture(scope="module")
def world(stack, servers):
    stack.env.update(
        EVENTS_DELIVERY_TIMEOUT=str(DELIVERY_TIMEOUT),
        BULK_RETRY_BACKOFF="0.2,0.4",
        EVENTS_RETRY_SCHEDULE="60",  # the first attempt is what this drill looks at
    )
    web = stack.web(name="web-hang", workers=1, threads=16)
    worker = WorkerProcess(stack.env, concurrency=2, queue="celery")
    stack.services.append(worker)
    admin = Api(web, stack.seed_tenant("acme")["key"], timeout=30)
    return {"stack": stack, "admin": admin}


def hanging_source(admin: Api, server: Relay, **fields) -> dict:
    base = f"https://{UPSTREAM_IP}:{server.port}"
    key = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    events = {
        "enabled": True, "callback_url": f"{base}/hooks/drill", "signature_key": key,
        "poll": {"enabled": True, "path": "/feed?since={since}", "interval_seconds": 3600,
                 "results_path": "records", "id_path": "id", "updated_path": "updated"},
    }  # fmt: skip
    fields.setdefault("timeout_seconds", TIMEOUT)
    return create_datasource(admin, base_url=base, events=events, **fields)


def bounded(elapsed: float, deadline: float, what: str) -> None:
    """Cut off by its deadline: not before it (it did hang), and not much after."""
    assert deadline * 0.9 <= elapsed < deadline + MARGIN, f"{what} took {elapsed:.2f} s"


@pytest.mark.parametrize("mode", ["hang", "tls-hang"])
def test_web_paths_are_bounded_by_the_data_sources_timeout(world, servers, mode):
    admin, stack = world["admin"], world["stack"]
    server = servers[mode]
    source = hanging_source(admin, server)
    item_key = f"hang-{mode}"
    create_item(admin, source["id"], item_key, "/projects")
    token_source = create_datasource(
        admin, base_url=f"https://{UPSTREAM_IP}:{server.port}", timeout_seconds=TIMEOUT,
        auth={"mode": "oauth2_client_credentials", "client_id": "drill", "client_secret": "s3cr3t",
              "token_url": f"https://{UPSTREAM_IP}:{server.port}/o/token/"},
    )  # fmt: skip
    calls = {
        "options": lambda: admin.get(f"/api/v1/items/{item_key}/options/"),
        "proxy": lambda: admin.get(f"/api/v1/proxy/{source['slug']}/anything"),
        "test": lambda: admin.post(f"/api/v1/datasources/{source['id']}/test/"),
        "poll": lambda: admin.post(f"/api/v1/datasources/{source['id']}/events/poll/"),
        "token": lambda: admin.get(f"/api/v1/proxy/{token_source['slug']}/anything"),
    }
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {name: pool.submit(timed, call) for name, call in calls.items()}
        outcomes = {name: future.result(timeout=TIMEOUT + 30) for name, future in futures.items()}

    for name, (answer, elapsed) in outcomes.items():
        assert not isinstance(answer, Exception), (name, answer)
        bounded(elapsed, TIMEOUT, name)
    for name in ("options", "proxy", "poll"):
        answer = outcomes[name][0]
        assert (answer.status_code, error_code(answer)) == (504, "upstream_timeout"), answer.text
    report = outcomes["test"][0]
    assert report.status_code == 200 and report.json()["ok"] is False, report.text
    failed = [step for step in report.json()["steps"] if not step["ok"]]
    assert failed and TIMED_OUT.search(failed[0]["detail"]), report.json()["steps"]
    refresh = outcomes["token"][0]
    assert refresh.status_code >= 500 and error_code(refresh) == "token_refresh_failed", (
        refresh.text
    )

    # What was recorded: the poll's error, the token refresh's failure on the data source.
    (poll_error,) = stack.sql("SELECT last_error FROM events_pollstate WHERE datasource_id = %s",
                              (source["id"],))[0]  # fmt: skip
    assert TIMED_OUT.search(poll_error), poll_error
    after = admin.get(f"/api/v1/datasources/{token_source['id']}/").json()
    assert after["status"] == "needs_attention" and TIMED_OUT.search(after["last_error"]), after


def test_an_event_delivery_attempt_is_recorded_as_timed_out(world, servers):
    admin = world["admin"]
    source = hanging_source(admin, servers["tls-hang"])
    inbound = source["events"]["inbound_url"].split("://", 1)[1].split("/", 1)[1]
    started = time.monotonic()
    accepted = admin.post(f"/{inbound}", {"hello": "drill"})
    assert accepted.status_code == 202, accepted.text
    event_id = accepted.json()["id"]

    def attempted():
        event = admin.get(f"/api/v1/events/{event_id}/").json()
        return event if event["deliveries"] else None

    event = wait_for(attempted, DELIVERY_TIMEOUT + 20, interval=0.2)
    (attempt,) = event["deliveries"]
    assert attempt["ok"] is False and attempt["status_code"] is None, attempt
    assert TIMED_OUT.search(attempt["error"]), attempt
    assert DELIVERY_TIMEOUT * 0.9 <= attempt["elapsed_ms"] / 1000 < DELIVERY_TIMEOUT + MARGIN
    assert event["status"] == "pending"  # and retried on the schedule
    assert time.monotonic() - started < DELIVERY_TIMEOUT + 20


def test_a_bulk_row_fails_after_its_attempts(world, servers):
    admin = world["admin"]
    source = hanging_source(admin, servers["tls-hang"])
    response = admin.call(
        "POST", f"/api/v1/datasources/{source['id']}/bulk/?path=/contacts",
        files={"file": ("rows.csv", b"name\nAda\n", "text/csv")},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    started = time.monotonic()

    def ended():
        status = admin.get(f"/api/v1/bulk/{job_id}/status").json()
        return status if status["status"] in ("COMPLETE", "FAILED") else None

    status = wait_for(ended, 3 * TIMEOUT + 20, interval=0.2)
    took = time.monotonic() - started
    assert (status["processed"], status["succeeded"], status["failed"]) == (1, 0, 1), status
    # Three attempts, each cut off at the deadline, with the backoff between them.
    assert 3 * TIMEOUT * 0.9 <= took < 3 * TIMEOUT + 0.6 + 8, took
    errors = admin.get(f"/api/v1/bulk/{job_id}/errors.csv").text
    assert TIMED_OUT.search(errors), errors


def test_a_request_longer_than_gunicorns_timeout_still_ends_with_its_own_504(world, servers):
    """gunicorn kills a sync worker busy past ``--timeout``; the image and the README run
    threaded (gthread) workers, whose requests end by their own deadline whatever it is."""
    stack, admin = world["stack"], world["admin"]
    short = stack.web(name="web-short-timeout", workers=1, threads=4, timeout=2)
    slow = hanging_source(admin, servers["tls-hang"], timeout_seconds=4)

    answer, elapsed = timed(lambda: admin.on(short).get(f"/api/v1/proxy/{slow['slug']}/x"))

    assert not isinstance(answer, Exception), f"the worker was killed: {answer!r}"
    assert (answer.status_code, error_code(answer)) == (504, "upstream_timeout"), answer.text
    bounded(elapsed, 4, "a call past gunicorn's timeout")
