"""Reading a tenant's events (every query names the tenant)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.events.models import Event, EventStatus


def events_of_datasource(
    *, tenant: Any, datasource_id: Any, status: str | None = None, source: str | None = None
) -> QuerySet[Event]:
    events = (
        Event.objects.filter(tenant=tenant, datasource_id=datasource_id)
        .defer("body")
        .prefetch_related("deliveries")
        .order_by("-received_at", "-id")
    )
    if status:
        events = events.filter(status=status)
    if source:
        events = events.filter(source=source)
    return events


def event_get(*, tenant: Any, event_id: Any) -> Event | None:
    return (
        Event.objects.filter(tenant=tenant, pk=event_id)
        .defer("body")
        .select_related("datasource")
        .prefetch_related("deliveries")
        .first()
    )


def event_counts(*, tenant: Any, datasource_id: Any, since: Any) -> dict[str, int]:
    """How many events arrived since ``since``, by status."""
    from django.db.models import Count

    rows = (
        Event.objects.filter(tenant=tenant, datasource_id=datasource_id, received_at__gte=since)
        .values("status")
        .annotate(n=Count("pk"))
    )
    counts = dict.fromkeys(EventStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
