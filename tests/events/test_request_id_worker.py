"""The request id reaches a real worker: an inbound event posted with X-Request-ID is delivered
by a Celery worker process whose log lines for that delivery — the outbound call's included —
carry the id."""

import uuid

import pytest

from apps.events.models import Event, EventStatus
from tests.factories import DataSourceFactory
from tests.support.worker import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_logs_a_requests_delivery_under_its_id(
    client, acme, hooks, signature_key, celery_worker
):
    name = hooks.new()
    datasource = DataSourceFactory(
        tenant=acme.tenant,
        events_config={"enabled": True, "callback_url": hooks.url(name, host="127.0.0.2")},
        event_secrets={"signature_key": signature_key},
    )
    datasource.refresh_from_db()
    rid = f"inbound-{uuid.uuid4().hex[:12]}"

    response = client.post(
        f"/api/v1/inbound/{datasource.inbound_token}", data=b'{"id": 1}',
        content_type="application/json", HTTP_X_REQUEST_ID=rid,
    )  # fmt: skip

    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == rid
    event_id = response.json()["id"]
    wait_until(lambda: Event.objects.filter(pk=event_id, status=EventStatus.DELIVERED).exists())

    def lines() -> list[str]:
        return [line for line in celery_worker.log().splitlines() if f"[{rid}]" in line]

    # The delivery's outbound call, the attempt's outcome and Celery's own line for the task.
    wait_until(lambda: any("succeeded" in line for line in lines()), timeout=10)
    tagged = lines()
    assert any("plugboard.outbound" in line and "-> 200" in line for line in tagged), tagged
    assert any(f"event {event_id} attempt 1: delivered" in line for line in tagged), tagged
    assert any("deliver_event" in line and "succeeded" in line for line in tagged), tagged
