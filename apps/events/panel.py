"""The events part of a data source's page: the inbound URL (owners and admins: it is the
credential), whether events are delivered and polled, the last day's counts, the log, and for
owners and admins "Send a test event", "Poll now" and "New inbound URL"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.datasources.event_settings import event_settings_of
from apps.datasources.models import DataSource, event_secrets_unreadable
from apps.datasources.representation import event_secrets_set, inbound_url
from apps.events.models import EventStatus, PollState
from apps.events.selectors import event_counts

COUNT_WINDOW = timedelta(hours=24)


def delivery_state(datasource: DataSource) -> dict[str, Any]:
    """Whether events are delivered, and what is missing when they are not."""
    settings = event_settings_of(datasource.events_config or {}, {})
    unreadable = event_secrets_unreadable(datasource)
    key_set = "signature_key" in event_secrets_set(datasource)
    missing = []
    if not settings.callback_url:
        missing.append("a callback URL")
    if not key_set:
        missing.append("a signature key")
    return {
        "enabled": settings.enabled,
        "on": settings.enabled and not missing,
        "missing": missing,
        "callback_url": settings.callback_url,
        "key_set": key_set,
        "unreadable": unreadable,
    }


def events_panel(request: HttpRequest, datasource: DataSource) -> str:
    membership = getattr(request, "membership", None)
    can_write = bool(membership and membership.can_write)
    poll = event_settings_of(datasource.events_config or {}, {}).poll
    counts = event_counts(tenant=datasource.tenant_id, datasource_id=datasource.pk,
                          since=timezone.now() - COUNT_WINDOW)  # fmt: skip
    return render_to_string(
        "events/_panel.html",
        {
            "object": datasource,
            "can_write": can_write,
            "inbound_url": inbound_url(datasource, request) if can_write else None,
            "delivery": delivery_state(datasource),
            "poll": poll,
            "poll_state": PollState.objects.filter(pk=datasource.pk).first(),
            "counts": [
                (status, label, counts.get(status, 0)) for status, label in EventStatus.choices
            ],
        },
        request=request,
    )
