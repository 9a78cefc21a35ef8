"""Delivering an event: one signed POST to the callback URL per attempt, through the outbound
client, and the schedule of retries.

Signing follows the Standard Webhooks spec with its reference library: ``webhook-id`` is the
event id (stable across retries), ``webhook-timestamp`` the time of the attempt, and each attempt
is signed afresh. No credential of the data source is ever sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core import metrics
from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError
from apps.datasources.event_settings import events_of
from apps.datasources.models import DataSource
from apps.events.models import DeliveryAttempt, Event, EventStatus, Source
from apps.events.queueing import enqueue_delivery
from apps.events.recording import event_record
from apps.outbound.client import OutboundRequest, open_stream, parse_retry_after
from apps.outbound.errors import (
    DestinationBlocked,
    InvalidRequestSettings,
    OutboundError,
    SecretsUnreadable,
    UpstreamTimeout,
    UpstreamUnreachable,
)

logger = logging.getLogger("plugboard.events")

USER_AGENT = "Plugboard-Webhooks/1.0"
# A retry due this soon is sent with a countdown; later ones are sent by the sweep when due
# (brokers hold countdown tasks in worker memory, which is no place for hours-long waits).
COUNTDOWN_LIMIT = 60.0
# What of a receiver's answer is read (so the connection can be kept); the rest is dropped.
_DRAIN_BYTES = 64 * 1024


class DeliveryOff(ApplicationError):
    code = ErrorCode.DELIVERY_OFF
    status = 409
    message = (
        "Delivery is off for this data source: enable events and set a callback URL and a "
        "signature key first."
    )


class DeliveryPending(ApplicationError):
    code = ErrorCode.DELIVERY_PENDING
    status = 409
    message = "This event is already waiting for delivery."


def retry_schedule() -> list[int]:
    return [max(int(delay), 0) for delay in settings.EVENTS_RETRY_SCHEDULE]


def lease_seconds() -> float:
    """How long an attempt holds its event: the attempt's deadline, twice (a worker killed
    mid-attempt holds it no longer than that)."""
    return 2 * float(settings.EVENTS_DELIVERY_TIMEOUT) + 1


@dataclass
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    retry: bool = False
    retry_after: int | None = None
    elapsed_ms: float = 0.0


def claim(event_id: Any, now: datetime | None = None) -> bool:
    """Take the lease on a due pending event; False when it is not due, not pending, or
    another attempt holds it (the conditional update is atomic on every database)."""
    now = now or timezone.now()
    return bool(
        Event.objects.filter(pk=event_id, status=EventStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=lease_seconds()))
    )


def signed_headers(signature_key: str, event_id: str, text: str, at: datetime) -> dict[str, str]:
    signature = Webhook(signature_key).sign(msg_id=event_id, timestamp=at, data=text)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def send_once(event: Event, datasource: DataSource) -> Outcome:
    """One attempt: sign, POST, classify the answer."""
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    try:
        config = events_of(datasource)
    except SecretsUnreadable as exc:
        # Retried on the schedule: an operator who restores the key loses no event.
        return Outcome(ok=False, error=exc.message, retry=True)
    if not config.delivers:
        return Outcome(ok=False, error=DeliveryOff.message)
    body = bytes(event.body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Outcome(ok=False, error="The event body is not UTF-8 text and cannot be signed.")
    headers = {
        "Content-Type": event.content_type or "application/octet-stream",
        "User-Agent": USER_AGENT,
        **signed_headers(config.signature_key or "", str(event.pk), text, timezone.now()),
    }
    request = OutboundRequest(method="POST", url=config.callback_url or "", headers=headers,
                              body=body)  # fmt: skip
    try:
        stream = open_stream(
            request,
            timeout=settings.EVENTS_DELIVERY_TIMEOUT,
            max_bytes=1 << 40,  # the answer is not kept
            pool=f"events:{datasource.pk}",
            redact={config.signature_key or ""},
            owner=f"tenant:{datasource.tenant_id}",
        )
    except (UpstreamTimeout, UpstreamUnreachable) as exc:
        return Outcome(ok=False, error=exc.message, retry=True, elapsed_ms=elapsed())
    except (DestinationBlocked, InvalidRequestSettings) as exc:
        return Outcome(ok=False, error=exc.message, elapsed_ms=elapsed())
    except OutboundError as exc:
        return Outcome(ok=False, error=exc.message, retry=True, elapsed_ms=elapsed())
    try:
        status = stream.status_code
        retry_after = parse_retry_after(stream.headers.get("Retry-After"))
        with contextlib.suppress(OutboundError):  # the status is what counts
            stream.prefetch(_DRAIN_BYTES)
    finally:
        stream.close()
    if 200 <= status < 300:
        return Outcome(ok=True, status_code=status, elapsed_ms=elapsed())
    if status == 429 or status >= 500:
        return Outcome(ok=False, status_code=status, error=f"HTTP {status}", retry=True,
                       retry_after=retry_after, elapsed_ms=elapsed())  # fmt: skip
    reason = "redirects are not followed" if 300 <= status < 400 else "not retried"
    return Outcome(ok=False, status_code=status, error=f"HTTP {status} ({reason})",
                   elapsed_ms=elapsed())  # fmt: skip


def next_delay(outcome: Outcome, retries_used: int) -> float | None:
    """Seconds until the next attempt, or None when there is none."""
    schedule = retry_schedule()
    if not outcome.retry or retries_used >= len(schedule):
        return None
    delay = float(schedule[retries_used])
    if outcome.retry_after is not None:
        # The receiver's own wish, within reason: never past twice the schedule's delay.
        delay = min(max(float(outcome.retry_after), 1.0), max(delay * 2, 1.0))
    return delay


def deliver(event_id: Any) -> Outcome | None:
    """Run one due attempt of ``event_id``; None when there was nothing to do (not due,
    already delivered, or another attempt holds it)."""
    if not claim(event_id):
        return None
    event = Event.objects.select_related("datasource").filter(pk=event_id).first()
    if event is None:
        return None
    datasource = event.datasource
    at = timezone.now()
    try:
        outcome = send_once(event, datasource)
    except Exception as exc:  # whatever went wrong is an attempt, never a held lease
        logger.exception("event %s: the delivery attempt failed unexpectedly", event.pk)
        outcome = Outcome(ok=False, error=f"Unexpected error ({type(exc).__name__}).", retry=True)
    delay = next_delay(outcome, event.retries_used)
    _record(event, outcome, at, delay)
    metrics.EVENT_DELIVERIES.labels(
        "delivered" if outcome.ok else "retry" if delay is not None else "failed"
    ).inc()
    if (
        delay is not None
        and delay <= COUNTDOWN_LIMIT
        and not enqueue_delivery(event.pk, countdown=delay)
    ):
        Event.objects.filter(pk=event.pk, status=EventStatus.PENDING).update(queued_for=None)
    logger.info(
        "event %s attempt %s: %s", event.pk, event.attempts, "delivered" if outcome.ok
        else f"{outcome.error}" + (f"; retry in {delay:g} s" if delay is not None else ""),
    )  # fmt: skip
    return outcome


def _record(event: Event, outcome: Outcome, at: datetime, delay: float | None) -> None:
    now = timezone.now()
    event.attempts += 1
    if outcome.ok:
        status, next_at, queued = EventStatus.DELIVERED, None, None
    elif delay is not None:
        status = EventStatus.PENDING
        next_at = now + timedelta(seconds=delay)
        queued = next_at if delay <= COUNTDOWN_LIMIT else None
        event.retries_used += 1
    else:
        status, next_at, queued = EventStatus.FAILED, None, None
    with transaction.atomic():
        # The update first: it locks the row, and finds none when the event (its data source)
        # was deleted meanwhile; then there is nothing to record.
        if not Event.objects.filter(pk=event.pk).update(
            attempts=event.attempts,
            retries_used=event.retries_used,
            status=status,
            next_attempt_at=next_at,
            queued_for=queued,
            lease_until=None,
            delivered_at=now if outcome.ok else None,
        ):
            return
        DeliveryAttempt.objects.create(
            event=event, attempt=event.attempts, at=at, status_code=outcome.status_code,
            ok=outcome.ok, error=outcome.error[:500], elapsed_ms=outcome.elapsed_ms,
        )  # fmt: skip
    event.status, event.next_attempt_at = status, next_at


def redeliver(event: Event) -> Event:
    """Deliver ``event`` again from the start of the schedule (a failed one, or any that is
    not waiting already)."""
    if event.status == EventStatus.PENDING:
        raise DeliveryPending()
    if not events_of(event.datasource).delivers:
        raise DeliveryOff()
    now = timezone.now()
    updated = (
        Event.objects.filter(pk=event.pk)
        .exclude(status=EventStatus.PENDING)
        .update(
            status=EventStatus.PENDING,
            retries_used=0,
            next_attempt_at=now,
            queued_for=now,
            lease_until=None,
        )
    )
    if not updated:
        raise DeliveryPending()
    transaction.on_commit(lambda: _enqueue_now(event.pk))
    event.refresh_from_db()
    return event


def _enqueue_now(event_id: Any) -> None:
    if not enqueue_delivery(event_id):  # the next sweep sends it
        Event.objects.filter(pk=event_id, status=EventStatus.PENDING).update(queued_for=None)


def sweep(now: datetime | None = None, batch: int = 1000) -> int:
    """Send again the deliveries due (or due within the next sweep) that no task holds or is
    expected to run: their task was lost, or they wait longer than a countdown allows."""
    now = now or timezone.now()
    ahead = now + timedelta(seconds=float(settings.EVENTS_SWEEP_SECONDS))
    lost_before = now - timedelta(seconds=float(settings.EVENTS_REQUEUE_AFTER))
    due = (
        Event.objects.filter(status=EventStatus.PENDING, next_attempt_at__lte=ahead)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_for__isnull=True) | Q(queued_for__lt=lost_before))
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at", "queued_for")[:batch]
    )
    sent = 0
    for pk, next_at, queued_for in list(due):
        expected = max(next_at, now)
        # Conditional: a sweep running elsewhere at the same moment sends it only once.
        taken = Event.objects.filter(pk=pk, queued_for=queued_for).update(queued_for=expected)
        if taken and enqueue_delivery(pk, countdown=(expected - now).total_seconds()):
            sent += 1
    return sent


def send_test_event(*, datasource: DataSource, sent_by: str) -> tuple[Event, Outcome | None]:
    """Record a small test event and make its first delivery attempt now, so that whoever
    pressed the button sees at once whether the receiver accepts it (None: a worker took the
    attempt first; the log shows it)."""
    if not events_of(datasource).delivers:
        raise DeliveryOff()
    body = json.dumps(
        {
            "type": "plugboard.test",
            "datasource": {"id": str(datasource.pk), "name": datasource.name},
            "sent_by": sent_by,
            "sent_at": timezone.now().isoformat(),
        },
        ensure_ascii=False,
    ).encode()
    event = event_record(datasource=datasource, source=Source.TEST, body=body,
                         content_type="application/json").event  # fmt: skip
    outcome = deliver(event.pk)
    event.refresh_from_db()
    return event, outcome
