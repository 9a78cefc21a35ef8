"""The events pages: a data source's events log, and the actions of its events panel (send a
test event, poll now, redeliver). Owners and admins act; viewers read."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.core.errors import ApplicationError
from apps.datasources.event_settings import event_settings_of
from apps.datasources.models import DataSource
from apps.events.delivery import redeliver, send_test_event
from apps.events.models import EventStatus, PollState, Source
from apps.events.panel import delivery_state
from apps.events.polling import poll_now
from apps.events.selectors import event_get, events_of_datasource
from apps.tenants.scoping import TenantRequiredMixin, TenantScopedQuerysetMixin

PAGE_SIZE = 25


def _log_url(datasource: DataSource) -> str:
    return reverse("datasource-events-log", args=[datasource.tenant.slug, datasource.pk])


def _panel_url(datasource: DataSource) -> str:
    detail = reverse("datasource-detail", args=[datasource.tenant.slug, datasource.pk])
    return detail + "#events-panel"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class EventsLogView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """A data source's events, newest first, 25 a page, filtered by status and source."""

    model = DataSource

    def get(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        status = request.GET.get("status", "")
        status = status if status in EventStatus.values else ""
        source = request.GET.get("source", "")
        source = source if source in Source.values else ""
        events = events_of_datasource(tenant=request.tenant, datasource_id=ds.pk,
                                      status=status or None, source=source or None)  # fmt: skip
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
        for event in page:  # the preview is the body's first 10 kB, as text
            event.truncated = event.body_size > len(event.preview.encode())  # type: ignore
        filters = {name: value for name, value in (("status", status), ("source", source)) if value}
        delivery = delivery_state(ds)
        return render(request, "events/log.html", {
            "title": f"Events of {ds.name}",
            "object": ds,
            "page_obj": page,
            "paginator": page.paginator,
            "is_paginated": page.has_other_pages(),
            "event_list": page.object_list,
            "page_query": urlencode(filters),
            "filtering": bool(filters),
            "status": status,
            "source": source,
            "statuses": EventStatus.choices,
            "sources": Source.choices,
            "delivery": delivery,
            "poll_on": event_settings_of(ds.events_config or {}, {}).poll.enabled,
            "redeliverable": _redeliverable(delivery["on"]),
        })  # fmt: skip


def _redeliverable(delivery_on: bool) -> set[str]:
    """The statuses whose events get a Redeliver button: failed ones always (the answer says
    when delivery is off), delivered and recorded ones while delivery is on."""
    if delivery_on:
        return {EventStatus.FAILED, EventStatus.DELIVERED, EventStatus.RECORDED}
    return {EventStatus.FAILED}


class SendTestEventView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Record a small test event and try its delivery at once; the outcome is a message."""

    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            event, outcome = send_test_event(datasource=ds, sent_by=request.user.get_username())
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(_panel_url(ds))
        if outcome is None:
            messages.info(request, "The test event was recorded and a worker took its delivery; "
                                   "the events log shows how it went.")  # fmt: skip
        elif outcome.ok:
            messages.success(
                request,
                f"Test event delivered: the callback URL answered HTTP {outcome.status_code} "
                f"in {outcome.elapsed_ms:.0f} ms.",
            )
        else:
            then = (" It will be tried again." if event.status == EventStatus.PENDING
                    else " It will not be tried again.")  # fmt: skip
            reason = outcome.error.rstrip(".")
            messages.error(request, f"The test event was not delivered: {reason}.{then}")
        return HttpResponseRedirect(_panel_url(ds))


class PollNowPageView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        first = not PollState.objects.filter(pk=ds.pk).exclude(watermark="").exists()
        try:
            recorded = poll_now(ds)
        except ApplicationError as exc:
            messages.error(request, f"The poll failed: {exc.message}")
            return HttpResponseRedirect(_panel_url(ds))
        text = f"{_plural(recorded, 'event')} recorded."
        if first:
            text += " This first poll only set the watermark: later polls record what changes."
        messages.success(request, text)
        return HttpResponseRedirect(_panel_url(ds))


class RedeliverPageView(TenantRequiredMixin, TenantScopedQuerysetMixin, View):
    """Deliver one event again from the start of the retry schedule."""

    model = DataSource
    write_required = True

    def post(self, request: HttpRequest, tenant: str, pk: str, event_id: str) -> HttpResponse:
        ds = get_object_or_404(self.get_queryset(), pk=pk)
        event = event_get(tenant=request.tenant, event_id=event_id)
        if event is None or event.datasource_id != ds.pk:
            raise Http404("No such event.")
        try:
            with transaction.atomic():
                redeliver(event)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The event is queued for delivery again; the log shows "
                                      "each attempt.")  # fmt: skip
        return HttpResponseRedirect(_back_to_log(request, ds))


def _back_to_log(request: HttpRequest, ds: DataSource) -> str:
    """The log page the form was on (its filters and page), else the log."""
    log = _log_url(ds)
    wanted = request.POST.get("next", "")
    if wanted.startswith(log) and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}
    ):
        return wanted
    return log
