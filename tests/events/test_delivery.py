"""Deliveries per the Standard Webhooks spec, checked with the ``standardwebhooks`` library on a
real HTTPS receiver: body unchanged, ``webhook-id`` stable, each attempt signed afresh; retries
on 5xx, 429 (Retry-After honoured within the schedule), timeouts and connection failures; never
on another 4xx; every attempt recorded; one attempt at a time."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.events.delivery import Outcome, claim, deliver, next_delay, redeliver, sweep
from apps.events.models import DeliveryAttempt, Event, EventStatus
from apps.events.recording import event_record
from apps.events.tasks import deliver_event
from tests.support.servers import UPSTREAM_IP

BODY = '{"webhookEvent":"jira:issue_updated","issue":{"key":"PB-1","summary":"Crème brûlée"}}'


def record(datasource, body: str = BODY, content_type: str = "application/json") -> Event:
    return event_record(datasource=datasource, source="webhook", body=body.encode(),
                        content_type=content_type).event  # fmt: skip


def run_until_done(event: Event, limit: int = 10) -> Event:
    """Run every due attempt now (the schedule's waits skipped)."""
    for _ in range(limit):
        Event.objects.filter(pk=event.pk, status=EventStatus.PENDING).update(
            next_attempt_at=timezone.now()
        )
        if deliver(event.pk) is None:
            break
    event.refresh_from_db()
    return event


def verified(signature_key: str, arrived: dict) -> str:
    """The body, verified by the Standard Webhooks library (raises when it does not verify)."""
    Webhook(signature_key).verify(arrived["body"], arrived["headers"], json_parse=False)
    return arrived["body"].decode()


def test_a_delivery_verifies_with_the_standard_webhooks_library(delivering_source, hooks,
                                                                signature_key):  # fmt: skip
    datasource = delivering_source()
    event = run_until_done(record(datasource))
    assert event.status == EventStatus.DELIVERED and event.attempts == 1
    (arrived,) = hooks.received(datasource.hook)
    assert verified(signature_key, arrived) == BODY  # the same bytes
    assert arrived["headers"]["webhook-id"] == str(event.pk)
    assert arrived["headers"]["content-type"] == "application/json"
    assert arrived["headers"]["user-agent"].startswith("Plugboard-Webhooks/")
    with pytest.raises(WebhookVerificationError):
        Webhook(signature_key.replace("whsec_", "whsec_A")[:-4] + "AAA=").verify(
            arrived["body"], arrived["headers"]
        )


def test_no_credential_of_the_data_source_is_sent(delivering_source, hooks):
    datasource = delivering_source(auth_mode="api_key", secrets={"value": "api-key-canary"},
                                   auth_config={"name": "X-Api-Key", "in": "header"},
                                   headers=[{"name": "X-Env", "value": "custom-canary"}])  # fmt: skip
    run_until_done(record(datasource))
    (arrived,) = hooks.received(datasource.hook)
    flat = str(arrived["headers"])
    assert "api-key-canary" not in flat and "custom-canary" not in flat
    assert "authorization" not in arrived["headers"]


def test_the_content_type_and_bytes_are_kept(delivering_source, hooks, signature_key):
    datasource = delivering_source()
    body = "a=1&b=%C3%A9+x"
    run_until_done(record(datasource, body, "application/x-www-form-urlencoded; charset=utf-8"))
    (arrived,) = hooks.received(datasource.hook)
    assert arrived["headers"]["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert verified(signature_key, arrived) == body


def test_5xx_twice_then_200_is_three_attempts_with_one_webhook_id(delivering_source, hooks,
                                                                  signature_key):  # fmt: skip
    datasource = delivering_source("500", "503")
    event = run_until_done(record(datasource))
    assert event.status == EventStatus.DELIVERED and event.attempts == 3
    arrived = hooks.received(datasource.hook)
    assert len(arrived) == 3
    assert {a["headers"]["webhook-id"] for a in arrived} == {str(event.pk)}
    for item in arrived:  # each attempt carries its own, valid signature
        assert verified(signature_key, item) == BODY
    attempts = list(DeliveryAttempt.objects.filter(event=event).order_by("attempt"))
    assert [(a.attempt, a.status_code, a.ok) for a in attempts] == [
        (1, 500, False), (2, 503, False), (3, 200, True)]  # fmt: skip
    assert all(a.elapsed_ms > 0 for a in attempts)


def test_each_attempt_is_signed_afresh(delivering_source, hooks, signature_key):
    datasource = delivering_source("500")
    event = record(datasource)
    deliver(event.pk)
    Event.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    import time

    time.sleep(1.1)  # the next attempt's timestamp is a later second
    deliver(event.pk)
    first, second = hooks.received(datasource.hook)
    assert first["headers"]["webhook-timestamp"] != second["headers"]["webhook-timestamp"]
    assert first["headers"]["webhook-signature"] != second["headers"]["webhook-signature"]
    for item in (first, second):
        verified(signature_key, item)


def test_a_400_is_one_attempt_and_failed(delivering_source, hooks):
    datasource = delivering_source("400")
    event = run_until_done(record(datasource))
    assert event.status == EventStatus.FAILED and event.attempts == 1
    assert len(hooks.received(datasource.hook)) == 1
    attempt = DeliveryAttempt.objects.get(event=event)
    assert attempt.status_code == 400 and "not retried" in attempt.error


@pytest.mark.parametrize("status", ["301", "404", "410", "422"])
def test_other_4xx_and_redirects_are_not_retried(delivering_source, status):
    event = run_until_done(record(delivering_source(status)))
    assert (event.status, event.attempts) == (EventStatus.FAILED, 1)


def test_after_the_whole_schedule_the_event_is_failed(delivering_source, settings):
    settings.EVENTS_RETRY_SCHEDULE = [1, 1]
    event = run_until_done(record(delivering_source("500", "500", "500", "500")))
    assert (event.status, event.attempts) == (EventStatus.FAILED, 3)  # 1 + len(schedule)


def test_429_retry_after_is_honoured(delivering_source, settings):
    settings.EVENTS_RETRY_SCHEDULE = [5, 300]
    event = record(delivering_source("429:42"))
    before = timezone.now()
    deliver(event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    wait = (event.next_attempt_at - before).total_seconds()
    assert 9.5 <= wait <= 11  # 42 s asked, clamped to twice the schedule's next delay (5 s)


def test_a_short_retry_after_is_taken_as_asked(delivering_source, settings):
    settings.EVENTS_RETRY_SCHEDULE = [300]
    event = record(delivering_source("429:3"))
    before = timezone.now()
    deliver(event.pk)
    event.refresh_from_db()
    assert 2.5 <= (event.next_attempt_at - before).total_seconds() <= 4.5


def test_next_delay_rules():
    assert next_delay(Outcome(ok=False, retry=True), 0) == 1  # the test schedule: 1,1,1
    assert next_delay(Outcome(ok=False, retry=True), 3) is None
    assert next_delay(Outcome(ok=False, retry=False), 0) is None
    assert next_delay(Outcome(ok=False, retry=True, retry_after=0), 0) == 1  # at least 1 s


def test_a_timeout_is_retried(delivering_source, settings):
    settings.EVENTS_DELIVERY_TIMEOUT = 1
    event = record(delivering_source(delay=3))
    deliver(event.pk)
    event.refresh_from_db()
    attempt = DeliveryAttempt.objects.get(event=event)
    assert attempt.status_code is None and "did not answer within 1" in attempt.error
    assert event.status == EventStatus.PENDING and event.retries_used == 1


def test_a_connection_failure_is_retried(acme, upstream, signature_key, test_dns):
    from tests.factories import DataSourceFactory

    test_dns["closed.test"] = [UPSTREAM_IP]
    datasource = DataSourceFactory(tenant=acme.tenant, events_config={
        "enabled": True, "callback_url": "https://closed.test:1/hooks"},
        event_secrets={"signature_key": signature_key})  # fmt: skip
    event = record(datasource)
    deliver(event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    assert "Could not connect" in DeliveryAttempt.objects.get(event=event).error


def test_a_refused_destination_fails_without_retry(acme, signature_key, settings, test_dns):
    from tests.factories import DataSourceFactory

    test_dns["inside.example.com"] = ["10.0.0.7"]
    datasource = DataSourceFactory(tenant=acme.tenant, events_config={
        "enabled": True, "callback_url": "https://inside.example.com/hooks"},
        event_secrets={"signature_key": signature_key})  # fmt: skip
    event = run_until_done(record(datasource))
    assert (event.status, event.attempts) == (EventStatus.FAILED, 1)
    assert "not allowed" in DeliveryAttempt.objects.get(event=event).error


def test_disabled_events_are_recorded_and_never_delivered(acme, upstream, hooks):
    from tests.factories import DataSourceFactory

    name = hooks.new()
    datasource = DataSourceFactory(tenant=acme.tenant, events_config={
        "enabled": False, "callback_url": hooks.url(name)})  # fmt: skip
    event = record(datasource)
    assert event.status == EventStatus.RECORDED
    assert deliver(event.pk) is None and sweep() == 0
    assert hooks.received(name) == []


def test_events_disabled_after_recording_are_not_sent(delivering_source, hooks):
    datasource = delivering_source()
    event = record(datasource)
    datasource.events_config = {**datasource.events_config, "enabled": False}
    datasource.save()
    event = run_until_done(event)
    assert event.status == EventStatus.FAILED
    assert hooks.received(datasource.hook) == []
    assert "Delivery is off" in DeliveryAttempt.objects.get(event=event).error


@pytest.mark.django_db(transaction=True)
def test_one_event_is_never_delivered_twice_at_once(delivering_source, hooks, monkeypatch):
    # Committed rows: a test worker of the session must not take it first.
    monkeypatch.setattr("apps.events.recording.request_dispatch", lambda: None)
    datasource = delivering_source(delay=1)
    event = record(datasource)
    results = []

    def attempt():
        try:
            results.append(deliver(event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(r is not None for r in results) == 1
    assert len(hooks.received(datasource.hook)) == 1


def test_a_claim_is_atomic_and_expires(delivering_source):
    event = record(delivering_source())
    now = timezone.now()
    assert claim(event.pk, now) is True
    assert claim(event.pk, now) is False
    assert claim(event.pk, now + timedelta(seconds=60)) is True  # the lease ran out


def test_redelivery_starts_the_schedule_again(delivering_source, hooks, signature_key):
    datasource = delivering_source("400")
    event = run_until_done(record(datasource))
    assert event.status == EventStatus.FAILED
    event = redeliver(Event.objects.select_related("datasource").get(pk=event.pk))
    assert event.status == EventStatus.PENDING and event.retries_used == 0
    event = run_until_done(event)
    assert (event.status, event.attempts) == (EventStatus.DELIVERED, 2)
    second = hooks.received(datasource.hook)[1]
    assert second["headers"]["webhook-id"] == str(event.pk)
    verified(signature_key, second)


def test_the_sweep_sends_again_what_no_task_holds(delivering_source, settings, monkeypatch):
    sent = []
    monkeypatch.setattr("apps.events.delivery.enqueue_delivery",
                        lambda pk, countdown=0: sent.append((str(pk), countdown)) or True)  # fmt: skip
    settings.EVENTS_REQUEUE_AFTER = 60
    new = record(delivering_source())  # just recorded: the dispatch sends it
    sent_already = record(delivering_source())
    Event.objects.filter(pk=sent_already.pk).update(queued_for=timezone.now())
    lost = record(delivering_source())
    Event.objects.filter(pk=lost.pk).update(queued_for=timezone.now() - timedelta(minutes=5))
    later = record(delivering_source())
    Event.objects.filter(pk=later.pk).update(
        queued_for=None, next_attempt_at=timezone.now() + timedelta(hours=2)
    )
    held = record(delivering_source())
    Event.objects.filter(pk=held.pk).update(
        queued_for=None, lease_until=timezone.now() + timedelta(seconds=30)
    )
    assert sweep() == 2
    assert sorted(pk for pk, _ in sent) == sorted([str(lost.pk), str(new.pk)])
    assert sweep() == 0  # sent once: they are expected now


def test_a_test_event_is_delivered_at_once(delivering_source, hooks, signature_key):
    from apps.events.delivery import send_test_event

    datasource = delivering_source()
    event, outcome = send_test_event(datasource=datasource, sent_by="alice")
    assert outcome is not None and outcome.ok and event.status == EventStatus.DELIVERED
    assert event.source == "test"
    (arrived,) = hooks.received(datasource.hook)
    assert '"type": "plugboard.test"' in verified(signature_key, arrived)


def test_a_test_event_needs_delivery_on(acme):
    from apps.events.delivery import DeliveryOff, send_test_event
    from tests.factories import DataSourceFactory

    with pytest.raises(DeliveryOff):
        send_test_event(datasource=DataSourceFactory(tenant=acme.tenant), sent_by="alice")


def test_unreadable_secrets_are_an_attempt_that_is_retried(delivering_source, settings):
    datasource = delivering_source()
    event = record(datasource)
    settings.FIELD_ENCRYPTION_KEYS = ["Hk3d0J0l8xZyHBn7SBrgJy1mYxH3rEw3hM0xw8hgC6Q="]
    deliver(event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING and event.attempts == 1
    assert "cannot be decrypted" in DeliveryAttempt.objects.get(event=event).error


def test_a_delivery_tasks_time_limits_follow_the_delivery_timeout(settings):
    """The worker's main process keeps a timer entry per limit of every task it runs until that
    limit's time has passed: deliveries, the most frequent task, must not hold theirs for the
    global 15 minutes."""
    assert deliver_event.soft_time_limit < deliver_event.time_limit
    assert deliver_event.time_limit <= settings.EVENTS_DELIVERY_TIMEOUT + 60
    assert deliver_event.time_limit < settings.CELERY_TASK_SOFT_TIME_LIMIT
