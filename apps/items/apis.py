from __future__ import annotations

import json
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import NotFound
from apps.datasources.apis import _body
from apps.items.cors import allow
from apps.items.models import ConnectedItem
from apps.items.options import options_fetch, refine
from apps.items.serializers import ItemSerializer, OptionsSerializer
from apps.items.services import item_create, item_delete, item_update
from apps.tenants.api import TenantScopedAPIView, TenantScopedViewSet
from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.services import origin_allowed

ITEM_EXAMPLE = OpenApiExample(
    "Jira issues of a project",
    value={
        "key": "asset",
        "name": "Asset",
        "datasource": "5f0c5d3e-4a8b-4f33-9f7e-2a1d6c9b0e11",
        "method": "GET",
        "path": "/search?jql=project={project}&maxResults=50",
        "body": None,
        "results_path": "issues",
        "value": "{key}",
        "label": "{key} – {fields.summary}",
    },
    request_only=True,
)


class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Connected items of the tenant, addressed by key."""

    model = ConnectedItem
    serializer_class = ItemSerializer
    lookup_field = "key"
    lookup_value_regex = "[A-Za-z0-9][A-Za-z0-9_-]{0,99}"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        q = self.request.query_params.get("q", "").strip() if self.request else ""
        if q:
            queryset = queryset.filter(Q(key__icontains=q) | Q(name__icontains=q))
        return queryset.order_by("key")

    @extend_schema(examples=[ITEM_EXAMPLE], responses={201: ItemSerializer})
    def create(self, request: Request) -> Response:
        item = item_create(tenant=request.tenant, data=_body(request))
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(examples=[ITEM_EXAMPLE])
    def partial_update(self, request: Request, key: str | None = None) -> Response:
        item = item_update(item=self.get_object(), data=_body(request))
        return Response(ItemSerializer(item).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, key: str | None = None) -> Response:
        item_delete(item=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class OptionsView(TenantScopedAPIView):
    """The options of a connected item, for widgets (widget keys allowed, CORS for their
    origins). ``q``, ``filter`` and ``limit`` apply to the cached list and never cause an
    upstream call."""

    widget_access = True

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Case-insensitive substring of the label"),
            OpenApiParameter("filter", str, description="RSQL over each list element"),
            OpenApiParameter("limit", int, description="At most this many options (1-1000)"),
            OpenApiParameter(
                "<dependency>", str, description="A value for each {placeholder} of the item"
            ),
        ],
        responses={200: OptionsSerializer},
    )
    def get(self, request: Request, key: str) -> Response | HttpResponse:
        item = (
            ConnectedItem.objects.filter(tenant=request.tenant, key=key)
            .select_related("datasource")
            .first()
        )
        if item is None:
            raise NotFound("No such item.")
        params = request.query_params
        answer = options_fetch(item=item, params=params)
        options = refine(
            answer,
            q=params.get("q", ""),
            filter_expr=params.get("filter", ""),
            limit=params.get("limit"),
        )
        body = json.dumps(
            {"options": options, "cache": answer.cache, "fetched_at": answer.fetched_at_iso},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return HttpResponse(body, content_type="application/json")

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        if (
            origin
            and key is not None
            and key.scope == ApiKeyScope.WIDGET
            and origin_allowed(api_key=key, origin=origin)
        ):
            allow(response, origin)
        response["Cache-Control"] = "private, no-store"
        return response
