"""Defects found by the review of the events feature (branch h/review). Each test is one defect
and fails until it is fixed; the docstring says what is wrong and what is expected."""

import logging
import socket
import ssl
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.datasources.event_settings import new_signature_key
from apps.datasources.models import DataSource
from apps.events.delivery import deliver
from apps.events.models import DeliveryAttempt, Event, EventStatus, PollState
from apps.events.polling import poll_now
from apps.events.recording import event_record
from tests.events.test_polling import bodies, issue, polled  # noqa: F401 - fixture
from tests.factories import DataSourceFactory
from tests.support.servers import UPSTREAM_IP, free_port

BASE = {"name": "Jira", "base_url": "https://example.atlassian.net/rest/api/3"}


class RawReceiver:
    """An HTTPS receiver on the test upstream's address that answers every request with the
    same raw bytes (whatever a hostile or broken receiver may send)."""

    def __init__(self, pki, response: bytes):
        self.port = free_port(UPSTREAM_IP)
        self.response = response
        self.requests: list[bytes] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(pki.cert_pem), str(pki.key_pem))
        self.sock = context.wrap_socket(
            socket.create_server((UPSTREAM_IP, self.port)), server_side=True
        )
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(self.response)
                time.sleep(0.1)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def raw_receiver(pki, outbound_to_loopback):
    made = []

    def make(response: bytes) -> RawReceiver:
        made.append(RawReceiver(pki, response))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


# --- 1. A receiver's answer can wedge an event forever ---------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"Retry-After: \xb2",  # '²' (latin-1): str.isdigit() is True, int() raises
        b"Retry-After: " + b"9" * 5000,  # past Python's 4,300-digit int() limit
        b"Content-Length: \xb2",  # Stream.declared_length has the same isdigit()/int() bug
        b"Content-Length: " + b"9" * 5000,
    ],
    ids=["retry-after-superscript", "retry-after-5000-digits", "length-superscript",
         "length-5000-digits"],
)  # fmt: skip
def test_a_malformed_answer_header_is_an_attempt_not_a_crash(acme, raw_receiver, signature_key,
                                                             header):  # fmt: skip
    """The callback's answer headers are parsed with ``value.isdigit()`` then ``int(value)``
    (``parse_retry_after`` and ``Stream.declared_length`` in apps/outbound/client.py). A
    receiver answering ``Retry-After: ²`` or a 5,000-digit value makes ``deliver`` raise
    ValueError after the POST was made: no attempt is recorded, ``attempts`` stays 0, the
    lease is held, and once it expires the sweep sends the event again, forever (it never
    becomes ``failed``). Expected: the answer is an attempt like any other (the malformed header
    ignored), recorded, and the schedule goes on."""
    receiver = raw_receiver(b"HTTP/1.1 503 Unavailable\r\n" + header +
                            b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    datasource = DataSourceFactory(tenant=acme.tenant, events_config={
        "enabled": True, "callback_url": f"https://upstream.test:{receiver.port}/hook"},
        event_secrets={"signature_key": signature_key})  # fmt: skip
    event = event_record(datasource=datasource, source="webhook", body=b"{}",
                         content_type="application/json").event  # fmt: skip
    crashes = 0
    for _ in range(3):  # what the sweep does once each lease has run out
        Event.objects.filter(pk=event.pk).update(lease_until=None, next_attempt_at=timezone.now())
        try:
            deliver(event.pk)
        except ValueError:
            crashes += 1
    event.refresh_from_db()
    assert len(receiver.requests) == 3  # the receiver got the event three times...
    assert crashes == 0, f"deliver raised {crashes} times"
    assert event.attempts == 3  # ...and each time is an attempt
    assert DeliveryAttempt.objects.filter(event=event).count() == 3


# --- 2. Viewers get a write credential -------------------------------------------------------


def test_a_viewer_is_not_given_the_inbound_url(acme, victor, api_session, client):
    """``events.inbound_url`` is the credential that records events ("the URL itself is the
    credential"); the model says it is "shown to admins". A viewer (read-only role) reads it in
    ``GET /datasources/{id}/`` and can then record events, which Plugboard signs with the
    tenant's signature key and delivers to the callback: a read-only member forges trusted
    webhooks. There is no way to rotate the URL afterwards (see the report). Expected: viewers do
    not see a usable inbound URL."""
    datasource = DataSourceFactory(tenant=acme.tenant)
    datasource.refresh_from_db()
    read = api_session(victor, "acme").get(f"/api/v1/datasources/{datasource.pk}/")
    assert read.status_code == 200
    assert datasource.inbound_token not in read.content.decode()


# --- 3. The inbound token in the logs --------------------------------------------------------


def test_the_inbound_token_is_not_written_to_the_logs(acme, client, caplog):
    """Every inbound answer of 400 or more (401 bad signature, 405, 413, 415, 503, 508) is logged
    by Django's ``django.request`` logger as ``Unauthorized: /api/v1/inbound/<token>``, at
    WARNING (ERROR for 5xx): the credential of the URL lands in the application log. Expected:
    the token never appears in a log line (e.g. log a redacted path, or answer these from a
    view that marks the path as sensitive / a logging filter that masks ``/inbound/<token>``)."""
    datasource = DataSourceFactory(tenant=acme.tenant, event_secrets={"inbound_secret": "s3cret"})
    datasource.refresh_from_db()
    token = datasource.inbound_token
    caplog.set_level(logging.DEBUG)
    response = client.post(f"/api/v1/inbound/{token}", data=b"{}",
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 401
    client.put(f"/api/v1/inbound/{token}", data=b"{}", content_type="application/json")
    leaked = [r.getMessage() for r in caplog.records if token in r.getMessage()]
    assert leaked == []


# --- 4. A key rotation then a partial PATCH turns inbound signature checks off ---------------


def test_after_a_key_rotation_patching_the_signature_key_keeps_inbound_checks(acme, client,
                                                                             settings):  # fmt: skip
    """With FIELD_ENCRYPTION_KEYS rotated past the key of the stored event secrets, the inbound
    endpoint answers 503 (good: it cannot check signatures). An admin then fixes delivery with
    ``PATCH {"events": {"signature_key": "<new>"}}``: the omitted ``inbound_secret`` is not
    kept (it cannot be read) but silently dropped, the PATCH answers 200, and from then on the
    inbound URL records unsigned requests. Expected: a write that replaces unreadable event
    secrets must send all of them again (400 ``secrets_required`` naming ``inbound_secret``), or
    the inbound endpoint keeps refusing until the inbound secret is set or cleared explicitly."""
    datasource = DataSourceFactory(tenant=acme.tenant, events_config={
        "enabled": True, "callback_url": "https://hooks.example.com/x"},
        event_secrets={"signature_key": new_signature_key(), "inbound_secret": "s3cret"})  # fmt: skip
    datasource.refresh_from_db()
    path = f"/api/v1/inbound/{datasource.inbound_token}"
    settings.FIELD_ENCRYPTION_KEYS = ["Hk3d0J0l8xZyHBn7SBrgJy1mYxH3rEw3hM0xw8hgC6Q="]
    assert client.post(path, data=b"{}", content_type="application/json").status_code == 503
    acme.api().patch(f"/api/v1/datasources/{datasource.pk}/",
                     {"events": {"signature_key": new_signature_key()}}, format="json")  # fmt: skip
    forged = client.post(path, data=b'{"forged": true}', content_type="application/json")
    assert forged.status_code in (401, 503), forged.content
    assert not Event.objects.filter(datasource_id=datasource.pk).exists()


# --- 5/6. Polling loses records ----------------------------------------------------------------


def test_one_record_dated_in_the_future_does_not_stop_polling(polled, feeds):  # noqa: F811
    """The watermark becomes the latest updated value seen, however far in the future. One
    record with ``updated: 2999-01-01`` (a bad import, a scheduled date in the wrong field) moves
    it to 2999: every later poll asks ``updated>=2999-…`` and records nothing, with no error, for
    good. Expected: the watermark never moves past the poll's own time (plus a small skew), so
    later changes are still recorded."""
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    feeds.serve(datasource.feed, {"issues": [issue("2", "2999-01-01T00:00:00Z")]})
    poll_now(datasource)
    recent = (timezone.now() - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    feeds.serve(datasource.feed, {"issues": [issue("3", recent),
                                             issue("2", "2999-01-01T00:00:00Z")]})  # fmt: skip
    assert poll_now(datasource) == 1
    assert "3" in [b["id"] for b in bodies(datasource)]


def test_records_past_the_per_poll_cap_are_not_lost(polled, feeds, monkeypatch):  # noqa: F811
    """``_records`` keeps the first MAX_RECORDS (10,000) records of an answer and drops the
    rest unseen, then moves the watermark to the latest of those it kept. When the API lists
    newest first (Jira's and most search APIs' default order), the older changes past the cap
    are never recorded, and ``last_error`` says nothing. (Shown with the cap at 3.) Expected:
    the watermark only moves as far as what was recorded (take the oldest records first), so the
    next poll picks up the rest; or the truncation is at least reported."""
    monkeypatch.setattr("apps.events.polling.MAX_RECORDS", 3)
    datasource = polled([issue("1", "2026-11-21T09:30:00Z")])
    poll_now(datasource)
    newest_first = [issue(str(n), f"2026-11-22T09:3{n}:00Z") for n in range(9, 4, -1)]
    feeds.serve(datasource.feed, {"issues": newest_first})  # 5 changes: 9, 8, 7, 6, 5
    poll_now(datasource)
    poll_now(datasource)
    recorded = sorted(b["id"] for b in bodies(datasource))
    note = PollState.objects.get(pk=datasource.pk).last_error
    assert recorded == ["5", "6", "7", "8", "9"] or "cap" in note or "10,000" in note, (
        recorded, note)  # fmt: skip


# --- 7. The OpenAPI schema ---------------------------------------------------------------------


def test_the_schema_of_the_events_log_is_the_paginated_shape(acme):
    """``GET /datasources/{id}/events/`` answers ``{"count", "next", "previous", "results"}``
    (paginated), but the schema at /api/schema/ declares a bare array of Event, and no
    ``page``/``page_size`` parameters. Generated clients break on it. Expected: a paginated
    schema (``PaginatedEventList``) like the other lists."""
    schema = acme.api().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/datasources/{id}/events/"]["get"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in answer:
        answer = schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[1]]
    assert answer.get("type") == "object" and "results" in answer.get("properties", {}), answer
    assert {"page", "page_size"} <= {p["name"] for p in operation["parameters"]}


# --- 8. Round trip -------------------------------------------------------------------------------


def test_a_read_written_back_does_not_pin_the_schemes_default_header(acme):
    """A read shows ``inbound_signature_header`` filled with the scheme's default
    (``webhook-signature`` for standard_webhooks). Writing the read back (the documented round
    trip) stores that default as an explicit setting, so a later switch to ``hmac_sha256`` keeps
    reading ``webhook-signature`` instead of ``X-Hub-Signature-256``, and every GitHub-style
    request is refused with 401. The same switch without the round trip gives the right header.
    Expected: writing back what was read changes nothing (a default shown is not stored, or the
    read says which header is explicit)."""
    api = acme.api()
    created = api.post("/api/v1/datasources/", {**BASE, "events": {
        "inbound_signature_scheme": "standard_webhooks", "inbound_secret": new_signature_key()}},
        format="json").json()  # fmt: skip
    url = f"/api/v1/datasources/{created['id']}/"
    stored = DataSource.objects.get(pk=created["id"]).events_config
    read = api.get(url).json()
    assert api.patch(url, {"events": read["events"]}, format="json").status_code == 200
    assert DataSource.objects.get(pk=created["id"]).events_config == stored
    switched = api.patch(url, {"events": {"inbound_signature_scheme": "hmac_sha256",
                                          "inbound_secret": "gh"}}, format="json")  # fmt: skip
    assert switched.json()["events"]["inbound_signature_header"] == "X-Hub-Signature-256"


# --- 10. Retention races a redelivery -------------------------------------------------------------


def test_the_retention_purge_never_deletes_a_pending_event(acme, delivering_source, settings,
                                                          monkeypatch):  # fmt: skip
    """``events_purge`` selected a batch of old events that were not pending, then deleted them
    by id without checking the status again: an event redelivered (made pending) in between was
    deleted with its delivery due. (The race is simulated by a selection made before the
    redelivery.) Expected: the delete re-checks ``status != pending`` under a row lock."""
    from apps.events import tasks
    from apps.events.delivery import redeliver

    datasource = delivering_source("400")
    event = event_record(datasource=datasource, source="webhook", body=b"{}",
                         content_type="application/json").event  # fmt: skip
    deliver(event.pk)
    Event.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(days=31))
    stale = tasks.old_event_ids(timezone.now() - timedelta(days=30), 10)
    assert stale == [event.pk]
    redeliver(Event.objects.select_related("datasource").get(pk=event.pk))
    calls = iter([stale, []])
    monkeypatch.setattr(tasks, "old_event_ids", lambda cutoff, batch: next(calls))
    tasks.events_purge(batch=10)
    assert Event.objects.filter(pk=event.pk, status=EventStatus.PENDING).exists()
