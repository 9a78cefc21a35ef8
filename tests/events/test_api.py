"""The events API: the log of a data source (newest first, paginated, bodies truncated to 10 kB,
attempts with codes and timings), one event, redelivery, retention; another tenant's events do
not exist; viewers read, widget keys do nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.events.delivery import deliver
from apps.events.models import DeliveryAttempt, Event, EventStatus
from apps.events.recording import event_record
from apps.events.tasks import events_purge
from apps.tenants.services import api_key_create
from tests.factories import DataSourceFactory


def record(datasource, body=b'{"n": 1}', **kwargs) -> Event:
    return event_record(datasource=datasource, source="webhook", body=body,
                        content_type="application/json", **kwargs).event  # fmt: skip


@pytest.fixture
def source(acme):
    return DataSourceFactory(tenant=acme.tenant)


def test_the_log_lists_newest_first_with_pages(acme, source):
    for n in range(3):
        event = record(source, body=f'{{"n": {n}}}'.encode())
        Event.objects.filter(pk=event.pk).update(received_at=timezone.now() + timedelta(n))
    response = acme.api().get(f"/api/v1/datasources/{source.pk}/events/?page_size=2")
    page = response.json()
    assert page["count"] == 3 and page["next"]
    assert [e["body"] for e in page["results"]] == ['{"n": 2}', '{"n": 1}']
    first = page["results"][0]
    assert set(first) >= {"id", "source", "received_at", "status", "body", "deliveries"}
    assert first["source"] == "webhook" and first["status"] == "recorded"


def test_bodies_are_truncated_to_10_kb(acme, source):
    record(source, body=b'"' + "é".encode() * 20_000 + b'"')
    (event,) = acme.api().get(f"/api/v1/datasources/{source.pk}/events/").json()["results"]
    assert len(event["body"]) == 10 * 1024
    assert event["body_truncated"] is True and event["body_size"] == 40_002


def test_attempts_are_listed_with_codes_and_timings(acme, delivering_source):
    datasource = delivering_source("503")
    event = record(datasource)
    deliver(event.pk)
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    deliver(event.pk)
    read = acme.api().get(f"/api/v1/events/{event.pk}/").json()
    assert read["status"] == "delivered"
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in read["deliveries"]] == [
        (1, 503, False), (2, 200, True)]  # fmt: skip
    assert all(d["elapsed_ms"] > 0 and d["at"] for d in read["deliveries"])
    assert read["deliveries"][0]["error"] == "HTTP 503"


def test_the_log_filters_by_status(acme, delivering_source):
    datasource = delivering_source("400")
    failed = record(datasource)
    deliver(failed.pk)
    record(datasource)
    url = f"/api/v1/datasources/{datasource.pk}/events/?status=failed"
    assert [e["id"] for e in acme.api().get(url).json()["results"]] == [str(failed.pk)]


def test_a_failed_event_is_redelivered(acme, delivering_source, hooks):
    datasource = delivering_source("400")
    event = record(datasource)
    deliver(event.pk)
    response = acme.api().post(f"/api/v1/events/{event.pk}/redeliver/")
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    again = acme.api().post(f"/api/v1/events/{event.pk}/redeliver/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "delivery_pending"


def test_redelivery_needs_delivery_on(acme, source):
    event = record(source)
    response = acme.api().post(f"/api/v1/events/{event.pk}/redeliver/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_off"


def test_another_tenants_events_do_not_exist(acme, globex, source):
    event = record(source)
    api = globex.api()
    assert api.get(f"/api/v1/datasources/{source.pk}/events/").status_code == 404
    assert api.get(f"/api/v1/events/{event.pk}/").status_code == 404
    assert api.post(f"/api/v1/events/{event.pk}/redeliver/").status_code == 404
    assert api.post(f"/api/v1/datasources/{source.pk}/events/poll/").status_code == 404
    mine = DataSourceFactory(tenant=globex.tenant)
    assert api.get(f"/api/v1/datasources/{mine.pk}/events/").json()["count"] == 0


def test_viewers_read_and_cannot_redeliver(acme, victor, api_session, delivering_source):
    datasource = delivering_source("400")
    event = record(datasource)
    deliver(event.pk)
    api = api_session(victor, "acme")
    assert api.get(f"/api/v1/events/{event.pk}/").status_code == 200
    response = api.post(f"/api/v1/events/{event.pk}/redeliver/")
    assert response.status_code == 403


def test_widget_keys_reach_no_event(acme, source):
    event = record(source)
    _, raw = api_key_create(tenant=acme.tenant, scope="widget", name="w")
    widget = APIClient()
    widget.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert widget.get(f"/api/v1/events/{event.pk}/").status_code == 403
    assert widget.get(f"/api/v1/datasources/{source.pk}/events/").status_code == 403


def test_old_events_and_attempts_are_purged_in_batches(acme, source, settings):
    settings.EVENTS_RETENTION_DAYS = 30
    old = [record(source) for _ in range(5)]
    Event.objects.filter(pk__in=[e.pk for e in old]).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    for event in old:
        DeliveryAttempt.objects.create(event=event, attempt=1, ok=True)
    waiting = record(source)
    Event.objects.filter(pk=waiting.pk).update(
        received_at=timezone.now() - timedelta(days=40), status=EventStatus.PENDING
    )
    recent = record(source)
    counts = events_purge(batch=2)
    assert counts == {"events": 5, "attempts": 5}
    assert set(Event.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}


def test_the_schema_documents_the_events_endpoints(acme):
    schema = acme.api().get("/api/schema/?format=json").json()
    for path in ("/api/v1/datasources/{id}/events/", "/api/v1/datasources/{id}/events/poll/",
                 "/api/v1/events/{id}/", "/api/v1/events/{id}/redeliver/"):  # fmt: skip
        assert path in schema["paths"], sorted(schema["paths"])
    events = schema["components"]["schemas"]["EventsRequest"]["properties"]
    assert {"enabled", "callback_url", "signature_key", "poll"} <= set(events)
