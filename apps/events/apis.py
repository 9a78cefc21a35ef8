"""``/api/v1/datasources/{id}/events/``, ``…/events/poll/``, ``/api/v1/events/{id}/`` and
``…/redeliver/``."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import NotFound
from apps.core.pagination import PAGE_PARAMETERS, PageNumberPagination, paginated
from apps.core.schema import error_responses
from apps.datasources.models import DataSource
from apps.events.delivery import redeliver
from apps.events.models import EventStatus, Source
from apps.events.polling import poll_now
from apps.events.representation import event_representation
from apps.events.selectors import event_get, events_of_datasource
from apps.tenants.api_scoping import TenantScopedAPIView


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    ok = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    elapsed_ms = serializers.FloatField()


class EventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    datasource = serializers.UUIDField()
    source = serializers.ChoiceField(choices=Source.choices)
    received_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=EventStatus.choices)
    content_type = serializers.CharField()
    body = serializers.CharField(help_text="The body as text, truncated to 10 kB.")
    body_size = serializers.IntegerField()
    body_truncated = serializers.BooleanField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    deliveries = AttemptSerializer(many=True)


class PollAnswerSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()


def _datasource(request: Request, pk: str) -> DataSource:
    datasource = DataSource.objects.filter(tenant=request.tenant, pk=pk).first()
    if datasource is None:
        raise NotFound("No such data source.")
    return datasource


class DataSourceEventsView(TenantScopedAPIView):
    """The events of one data source, newest first: webhooks received at its inbound URL,
    records found by polling, bulk job notifications and test events, each with its delivery
    attempts. Bodies are truncated to 10 kB."""

    @extend_schema(
        summary="Events of a data source, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=EventStatus.values),
            OpenApiParameter("source", str, enum=Source.values),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(EventSerializer, "PaginatedEventList")},
    )
    def get(self, request: Request, pk: str) -> Response:
        datasource = _datasource(request, pk)
        events = events_of_datasource(
            tenant=request.tenant, datasource_id=datasource.pk,
            status=request.query_params.get("status") or None,
            source=request.query_params.get("source") or None,
        )  # fmt: skip
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response([event_representation(e) for e in page])


class PollNowView(TenantScopedAPIView):
    """Poll the data source now (its polling settings must be on); answers how many events were
    recorded. 409 ``polling_off`` or ``poll_in_progress``; upstream failures use the upstream
    error codes."""

    @extend_schema(summary="Poll the data source now", request=None,
                   responses={200: PollAnswerSerializer, **error_responses(409, 502, 504)})  # fmt: skip
    def post(self, request: Request, pk: str) -> Response:
        return Response({"recorded": poll_now(_datasource(request, pk))})


class EventDetailView(TenantScopedAPIView):
    """One event of the tenant, with its delivery attempts."""

    @extend_schema(summary="One event", responses={200: EventSerializer})
    def get(self, request: Request, pk: str) -> Response:
        event = event_get(tenant=request.tenant, event_id=pk)
        if event is None:
            raise NotFound("No such event.")
        return Response(event_representation(event))


class RedeliverView(TenantScopedAPIView):
    """Deliver the event again from the start of the retry schedule (delivery must be on).
    409 ``delivery_pending`` when it is already waiting, ``delivery_off`` without delivery."""

    @extend_schema(summary="Deliver an event again", request=None,
                   responses={202: EventSerializer, **error_responses(409)})  # fmt: skip
    def post(self, request: Request, pk: str) -> Response:
        event = event_get(tenant=request.tenant, event_id=pk)
        if event is None:
            raise NotFound("No such event.")
        with transaction.atomic():
            event = redeliver(event)
        return Response(event_representation(event), status=status.HTTP_202_ACCEPTED)
