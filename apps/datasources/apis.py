from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.datasources.models import DataSource
from apps.datasources.representation import datasource_representation
from apps.datasources.serializers import (
    AUTH_EXAMPLES,
    ConnectionTestSerializer,
    DataSourceSerializer,
    PurgeSerializer,
)
from apps.datasources.services import (
    datasource_create,
    datasource_delete,
    datasource_purge_cache,
    datasource_record_test,
    datasource_update,
)
from apps.datasources.testing import connection_test
from apps.tenants.api import TenantScopedViewSet


class InvalidBody(ApplicationError):
    code = "invalid_body"
    status = 400
    message = "Send a JSON object."


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidBody()
    return dict(request.data)


class DataSourceViewSet(TenantScopedViewSet):
    """REST API data sources of the tenant. Secrets are write-only."""

    model = DataSource
    serializer_class = DataSourceSerializer
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

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Search name, slug, URL")])
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self._out(ds) for ds in page])

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(self._out(self.get_object()))

    @extend_schema(examples=AUTH_EXAMPLES, responses={201: DataSourceSerializer})
    def create(self, request: Request) -> Response:
        datasource = datasource_create(
            tenant=request.tenant, data=_body(request), actor=request.user
        )
        return Response(self._out(datasource), status=status.HTTP_201_CREATED)

    @extend_schema(examples=AUTH_EXAMPLES)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        datasource = datasource_update(
            datasource=self.get_object(), data=_body(request), actor=request.user
        )
        return Response(self._out(datasource))

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        datasource_delete(datasource=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ConnectionTestSerializer})
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

    @extend_schema(request=None, responses={200: PurgeSerializer})
    @action(detail=True, methods=["post"], url_path="purge-cache")
    def purge_cache(self, request: Request, pk: str | None = None) -> Response:
        """Drop every cached options answer of this data source."""
        purged = datasource_purge_cache(datasource=self.get_object(), actor=request.user)
        return Response({"purged": purged})
