"""Events through real processes: a Celery worker delivers what the inbound endpoint recorded,
retries on the schedule, and a worker SIGKILLed mid-delivery, with the broker's queue lost too,
loses nothing once restarted (the event rows are the outbox; beat's sweep sends again what the
dead worker held and what the broker forgot)."""

import itertools
import time
import uuid

import pytest
import redis
from standardwebhooks.webhooks import Webhook

from apps.events.models import DeliveryAttempt, Event, EventStatus
from tests.factories import DataSourceFactory
from tests.support.servers import ALLOWED_NETWORKS
from tests.support.worker import WorkerProcess, wait_until, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def _source(acme, hooks, signature_key, name):
    return DataSourceFactory(
        tenant=acme.tenant,
        events_config={"enabled": True, "callback_url": hooks.url(name, host="127.0.0.2")},
        event_secrets={"signature_key": signature_key},
    )


def _post(client, datasource, body: bytes):
    datasource.refresh_from_db()
    response = client.post(f"/api/v1/inbound/{datasource.inbound_token}", data=body,
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_a_worker_delivers_what_was_recorded_with_retries(
    client, acme, hooks, signature_key, celery_worker
):
    name = hooks.new("500", "502")
    datasource = _source(acme, hooks, signature_key, name)
    body = b'{"hello": "worker"}'
    event_id = _post(client, datasource, body)
    event = wait_until(
        lambda: Event.objects.filter(pk=event_id, status=EventStatus.DELIVERED).first(),
        timeout=30,
    )
    assert event.attempts == 3
    arrived = hooks.received(name)
    assert [a["headers"]["webhook-id"] for a in arrived] == [event_id] * 3
    for item in arrived:
        Webhook(signature_key).verify(item["body"], item["headers"], json_parse=False)
        assert item["body"] == body
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(arrived)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # the test schedule: 1 s between attempts
    assert list(DeliveryAttempt.objects.filter(event_id=event_id).values_list("status_code",
                flat=True).order_by("attempt")) == [500, 502, 200]  # fmt: skip


def test_a_worker_killed_mid_delivery_loses_nothing(
    client, acme, hooks, signature_key, settings, pki, tmp_path
):
    queue = f"events-kill-{uuid.uuid4().hex[:8]}"
    settings.EVENTS_QUEUE = queue  # what this process enqueues goes to the dedicated worker
    env = worker_env({
        "OUTBOUND_CA_BUNDLE": str(pki.ca_pem),
        "OUTBOUND_ALLOWED_NETWORKS": ",".join(ALLOWED_NETWORKS),
        "EVENTS_QUEUE": queue, "EVENTS_SWEEP_SECONDS": "1", "EVENTS_REQUEUE_AFTER": "3",
        "EVENTS_DELIVERY_TIMEOUT": "3",
    })  # fmt: skip
    name = hooks.new(delay=1.5)  # a slow receiver: deliveries are in flight when the kill comes
    datasource = _source(acme, hooks, signature_key, name)
    ids = [_post(client, datasource, f'{{"n": {n}}}'.encode()) for n in range(6)]

    worker = WorkerProcess(env, concurrency=2, queue=queue, beat_schedule=tmp_path / "beat")
    try:
        wait_until(lambda: "deliver_event" in worker.log() and "received" in worker.log(), 30)
        time.sleep(0.5)  # two attempts are now waiting on the receiver
    finally:
        worker.kill()
    pending = Event.objects.filter(pk__in=ids).exclude(status=EventStatus.DELIVERED).count()
    assert pending >= 4, "the kill came too late to prove anything"
    # And the broker forgets what was queued, as a Redis restarted without persistence does.
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(queue)

    worker = WorkerProcess(env, concurrency=2, queue=queue, beat_schedule=tmp_path / "beat")
    try:
        wait_until(
            lambda: Event.objects.filter(pk__in=ids, status=EventStatus.DELIVERED).count() == 6,
            timeout=90,
            interval=0.5,
        )
    except AssertionError:
        states = list(Event.objects.filter(pk__in=ids).values_list(
            "status", "attempts", "next_attempt_at", "lease_until", "queued_for"))  # fmt: skip
        raise AssertionError(f"{states}\n{worker.log()[-4000:]}") from None
    finally:
        worker.stop()
    received = {a["headers"]["webhook-id"] for a in hooks.received(name)}
    assert received == set(ids)
    assert "sweep_deliveries" in worker.log()
