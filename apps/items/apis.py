from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.core.memo import Remembered, Unconfirmed
from apps.core.payloads import json_object
from apps.core.schema import error_responses
from apps.items.cors import allow
from apps.items.models import ConnectedItem
from apps.items.options import options_serve
from apps.items.serializers import ItemSerializer, OptionsSerializer
from apps.items.services import item_create, item_delete, item_update
from apps.tenants.api_scoping import TenantScopedAPIView, TenantScopedViewSet, key_access
from apps.tenants.authentication import bearer_key
from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.services import api_key_recall, origin_allowed

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


@extend_schema_view(
    list=extend_schema(summary="List connected items"),
    retrieve=extend_schema(summary="Read a connected item"),
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

    @extend_schema(
        summary="Create a connected item", examples=[ITEM_EXAMPLE], responses={201: ItemSerializer}
    )
    def create(self, request: Request) -> Response:
        item = item_create(tenant=request.tenant, data=json_object(request.data))
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a connected item", examples=[ITEM_EXAMPLE])
    def partial_update(self, request: Request, key: str | None = None) -> Response:
        item = item_update(item=self.get_object(), data=json_object(request.data))
        return Response(ItemSerializer(item).data)

    @extend_schema(summary="Delete a connected item", responses={204: None})
    def destroy(self, request: Request, key: str | None = None) -> Response:
        item_delete(item=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class JSONOnly(BaseContentNegotiation):
    """The options endpoint answers JSON whatever the client accepts: no negotiation to run."""

    renderer = JSONRenderer()

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return (self.renderer, self.renderer.media_type)


# DRF's Allow header for OptionsView (its default_response_headers, with one renderer): the
# remembered key's way sends it too, so that both ways answer alike.
ALLOW = "GET, HEAD, OPTIONS"


class OptionsView(TenantScopedAPIView):
    """The options of a connected item, for widgets (widget keys allowed, CORS for their
    origins). ``q``, ``filter`` and ``limit`` apply to the cached list and never cause an
    upstream call."""

    widget_access = True
    content_negotiation_class = JSONOnly
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Options of a connected item (what the widget shows)",
        parameters=[
            OpenApiParameter("q", str, description="Case-insensitive substring of the label"),
            OpenApiParameter("filter", str, description="RSQL over each list element"),
            OpenApiParameter("limit", int, description="At most this many options (1-1000)"),
            OpenApiParameter(
                "<dependency>", str, description="A value for each {placeholder} of the item"
            ),
        ],
        responses={200: OptionsSerializer, **error_responses(409, 502, 504)},
    )
    def get(self, request: Request, key: str) -> HttpResponse:
        key_id = request.auth.pk if isinstance(request.auth, ApiKey) else None
        return options_response(
            tenant_id=request.tenant.pk, item_key=key, params=request.query_params, key_id=key_id
        )

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # A GET by a key this process remembers is answered without the API view's machinery:
        # the key is confirmed by its stamp, read in the same round trip as the cached answer.
        # Anything else (a new key, a key to confirm from the database, a refusal, a session)
        # takes the full way. Both end in options_response.
        answered = _by_remembered_key(request, kwargs.get("key", ""))
        if answered is None:
            return super().dispatch(request, *args, **kwargs)
        response, api_key = answered
        response["Allow"] = ALLOW  # as DRF adds it on the full way
        return _cors_and_cache_headers(response, api_key, request.META.get("HTTP_ORIGIN"))

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        return _cors_and_cache_headers(response, key, request.META.get("HTTP_ORIGIN"))


_renderer = JSONRenderer()


def options_response(
    *,
    tenant_id: int,
    item_key: str,
    params: Mapping[str, Any],
    caller: Remembered[ApiKey] | None = None,
    key_id: int | None = None,
) -> HttpResponse:
    """The options endpoint's answer or error, whichever way the request came in."""
    try:
        answer = options_serve(tenant_id=tenant_id, item_key=item_key, params=params,
                               caller=caller, key_id=key_id)  # fmt: skip
    except ApplicationError as exc:
        response = HttpResponse(
            _renderer.render(exc.as_body()), status=exc.status, content_type="application/json"
        )
        for name, value in exc.headers.items():
            response[name] = value
        return response
    return HttpResponse(answer.body, content_type="application/json")


def _by_remembered_key(request: HttpRequest, item_key: str) -> tuple[HttpResponse, ApiKey] | None:
    """The answer to a GET by a key this process remembers, and the key; None: the full way."""
    if request.method != "GET":
        return None
    raw = bearer_key(request)
    remembered = api_key_recall(raw=raw) if raw else None
    if remembered is None:
        return None
    api_key = remembered.value
    try:
        if not key_access(
            api_key, widget_access=True, method="GET", origin=request.META.get("HTTP_ORIGIN")
        ):
            return None
    except ApplicationError:
        return None  # a refusal waits until the key is confirmed: the full way says it
    try:
        response = options_response(
            tenant_id=api_key.tenant_id,
            item_key=item_key,
            params=request.GET,
            caller=remembered,
            key_id=api_key.pk,
        )
    except Unconfirmed:
        return None  # the key changed: the full way reads it again
    return response, api_key


def _cors_and_cache_headers(response: Any, api_key: ApiKey | None, origin: str | None) -> Any:
    if (
        origin
        and api_key is not None
        and api_key.scope == ApiKeyScope.WIDGET
        and origin_allowed(api_key=api_key, origin=origin)
    ):
        allow(response, origin)
    response["Cache-Control"] = "private, no-store"
    return response
