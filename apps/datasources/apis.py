from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.schema import AutoSchema
from apps.datasources.connection_test import connection_test
from apps.datasources.inputs import DataSourceSerializer, datasource_input
from apps.datasources.models import DataSource
from apps.datasources.representation import datasource_representation
from apps.datasources.services import (
    datasource_create,
    datasource_delete,
    datasource_purge_cache,
    datasource_record_test,
    datasource_update,
)
from apps.outbound.auth import MODES
from apps.tenants.api_scoping import TenantScopedViewSet

BASE_EXAMPLE = {
    "name": "Jira",
    "type": "rest",
    "slug": "jira-cloud",
    "base_url": "https://example.atlassian.net/rest/api/3",
    "docs_url": "https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
    "health_check_path": "/serverInfo",
    "timeout_seconds": 60,
    "headers": [{"name": "X-Env", "value": "prod"}],
    "ping": {"method": "GET", "path": "/myself", "success_path": "active",
             "success_values": ["true"]},
}  # fmt: skip


class StepSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["dns", "connect", "tls", "auth", "request", "check"])
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    elapsed_ms = serializers.FloatField()
    steps = StepSerializer(many=True)


class PurgeSerializer(serializers.Serializer):
    purged = serializers.IntegerField()


class DataSourceSchema(AutoSchema):
    """One write example per registered auth mode."""

    def get_examples(self) -> list[OpenApiExample]:
        if getattr(self.view, "action", None) in ("create", "partial_update"):
            return [
                OpenApiExample(
                    f"auth: {name}", value={**BASE_EXAMPLE, "auth": mode.example}, request_only=True
                )
                for name, mode in MODES.items()
            ]
        return super().get_examples()


class DataSourceViewSet(TenantScopedViewSet):
    """REST API data sources of the tenant. Secrets are write-only."""

    model = DataSource
    serializer_class = DataSourceSerializer
    schema = DataSourceSchema()
    lookup_value_regex = "[0-9a-f-]{36}"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.select_related("tenant")
        q = self.request.query_params.get("q", "").strip() if self.request else ""
        if q:
            queryset = queryset.filter(
                Q(name__icontains=q) | Q(slug__icontains=q) | Q(base_url__icontains=q)
            )
        return queryset.order_by("name", "pk")

    def _out(self, datasource: DataSource) -> dict[str, Any]:
        return datasource_representation(datasource, self.request)

    @extend_schema(
        summary="List data sources",
        parameters=[OpenApiParameter("q", str, description="Search name, slug, URL")],
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self._out(ds) for ds in page])

    @extend_schema(summary="Read a data source")
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(self._out(self.get_object()))

    @extend_schema(summary="Create a data source")
    def create(self, request: Request) -> Response:
        changes = datasource_input(request.data)
        datasource = datasource_create(tenant=request.tenant, actor=request.user, **changes)
        return Response(self._out(datasource), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a data source")
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        datasource = self.get_object()
        changes = datasource_input(request.data, auth_mode=datasource.auth_mode, partial=True)
        datasource = datasource_update(datasource=datasource, actor=request.user, **changes)
        return Response(self._out(datasource))

    @extend_schema(summary="Delete a data source", responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        datasource_delete(datasource=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Test the connection", request=None, responses={200: ConnectionTestSerializer}
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Call the ping path (else the health check path, else the base URL) and report each
        step: dns, connect, tls, auth, request, check."""
        datasource = self.get_object()
        result = connection_test(datasource)
        datasource_record_test(
            datasource=datasource, ok=result["ok"], message=result["message"],
            actor=request.user, saved=True,
        )  # fmt: skip
        return Response(result)

    @extend_schema(
        summary="Purge the cached options of a data source",
        request=None,
        responses={200: PurgeSerializer},
    )
    @action(detail=True, methods=["post"], url_path="purge-cache")
    def purge_cache(self, request: Request, pk: str | None = None) -> Response:
        """Drop every cached options answer of this data source."""
        purged = datasource_purge_cache(datasource=self.get_object(), actor=request.user)
        return Response({"purged": purged})
