"""Events: what a data source's API told Plugboard (a webhook, a polled change, a bulk job's end),
kept with the state of its delivery, and every delivery attempt.

An event row is its own outbox: it is written with its delivery due (``pending``, due now) in
the recording's transaction, so no pending delivery exists only in a broker's memory. A delivery
task takes a lease on the row before it sends, so one event is never delivered twice at once.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.datasources.models import DataSource
from apps.tenants.models import TenantOwned

PREVIEW_CHARS = 10 * 1024


class Source(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    POLL = "poll", "Poll"
    BULK = "bulk", "Bulk job"
    TEST = "test", "Test event"


class EventStatus(models.TextChoices):
    RECORDED = "recorded", "Recorded"  # kept; delivery is off
    PENDING = "pending", "Pending"  # a delivery attempt is due or scheduled
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # the last attempt failed and none is scheduled


class Event(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=EventStatus.choices)
    received_at = models.DateTimeField(default=timezone.now)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.BinaryField()
    body_size = models.PositiveIntegerField(default=0)
    # The body's first 10 kB as text, for listings (the whole body is only read to deliver).
    preview = models.TextField(blank=True)
    # A replayed webhook-id or an already-seen polled record is recorded once (NULL: no key,
    # never a duplicate).
    dedup_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # Delivery state.
    attempts = models.PositiveIntegerField(default=0)
    retries_used = models.PositiveSmallIntegerField(default=0)  # of this round's schedule
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    queued_for = models.DateTimeField(null=True, blank=True)  # when its task is expected
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["datasource", "-received_at"], name="event_log"),
            models.Index(fields=["received_at"], name="event_age"),
            models.Index(
                fields=["next_attempt_at"],
                name="event_due",
                condition=Q(status="pending"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["datasource", "dedup_key"],
                condition=Q(dedup_key__isnull=False),
                name="event_recorded_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} event {self.pk}"


class DeliveryAttempt(models.Model):
    """One POST of an event to the callback URL, and how it ended."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now, db_index=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    elapsed_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["event", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["event", "attempt"], name="attempt_numbered_once")
        ]

    def __str__(self) -> str:
        return f"Attempt {self.attempt} of {self.event_id}"


class PollState(models.Model):
    """Where polling of one data source stands: its watermark and when it is next due."""

    datasource = models.OneToOneField(
        DataSource, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    watermark = models.CharField(max_length=100, blank=True)  # as the API wrote it
    # Records seen at exactly the watermark on the poll that set it (digests), so that the
    # next poll, which asks from the watermark on, does not record them again.
    boundary = models.JSONField(default=list, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    queued_for = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_recorded = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"Polling of {self.datasource_id}"
