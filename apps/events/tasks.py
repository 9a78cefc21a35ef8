"""The events app's tasks (scheduled in config/schedule.py). Messages carry ids only; every task
is safe to run twice (a lease or a conditional update decides who does the work)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.events import delivery, polling
from apps.events.models import DeliveryAttempt, Event, EventStatus
from apps.events.queueing import dispatch_started

PURGE_BATCH = 1000

# A delivery attempt is bounded by EVENTS_DELIVERY_TIMEOUT (at most 30 s); its task's limits stay
# close to that. They matter beyond a stuck task: the worker's main process keeps a timer entry
# for each limit of every task it hands to the pool until the limit's time has passed, finished
# or not, so the global 14/15-minute limits held some 1 KB for every delivery of the last 15
# minutes (in the soak, ~1 MB a minute of growth in the main process).
_DELIVERY = float(settings.EVENTS_DELIVERY_TIMEOUT)


@shared_task(ignore_result=True, soft_time_limit=_DELIVERY + 30, time_limit=_DELIVERY + 60)
def deliver_event(event_id: str) -> None:
    """One due delivery attempt of an event (nothing when it is not due or is held)."""
    delivery.deliver(event_id)


@shared_task(ignore_result=True)
def dispatch_deliveries() -> int:
    """Send the deliveries due now (asked for when events are recorded)."""
    dispatch_started()
    return delivery.sweep()


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Send again the deliveries whose task was lost or that wait for a long retry."""
    return delivery.sweep()


@shared_task(ignore_result=True)
def poll_datasource(datasource_id: str) -> None:
    polling.poll_due(datasource_id)


@shared_task(ignore_result=True)
def scan_polls() -> int:
    return polling.scan()


@shared_task(ignore_result=True)
def purge_old_events() -> dict[str, int]:
    return events_purge()


def old_event_ids(cutoff, batch: int) -> list:
    return list(
        Event.objects.filter(received_at__lt=cutoff)
        .exclude(status=EventStatus.PENDING)
        .values_list("pk", flat=True)[:batch]
    )


def events_purge(now=None, batch: int = PURGE_BATCH) -> dict[str, int]:
    """Delete events (with their attempts) and attempts older than EVENTS_RETENTION_DAYS, in
    batches; an event waiting for delivery is kept until it is done."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    counts = {"events": 0, "attempts": 0}
    while ids := old_event_ids(cutoff, batch):
        with transaction.atomic():
            # Locked and checked again: an event redelivered since it was selected stays.
            doomed = (
                Event.objects.select_for_update()
                .filter(pk__in=ids)
                .exclude(status=EventStatus.PENDING)
            )
            _, deleted = Event.objects.filter(pk__in=list(doomed.values_list("pk", flat=True))
                                              ).delete()  # fmt: skip
        counts["events"] += deleted.get("events.Event", 0)
        counts["attempts"] += deleted.get("events.DeliveryAttempt", 0)
        if not deleted.get("events.Event"):
            break  # all of this batch became pending meanwhile; the next run takes the rest
    while True:
        ids = list(
            DeliveryAttempt.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        counts["attempts"] += DeliveryAttempt.objects.filter(pk__in=ids).delete()[0]
    return counts
