from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.core.payloads import json_object
from apps.items import lookup
from apps.items.cors import allow
from apps.items.models import ConnectedItem
from apps.items.options import (
    KeyCheckNeeded,
    cached_hit,
    evaluate,
    miss,
    options_body,
    options_fetch,
    refine,
)
from apps.items.serializers import ItemSerializer, OptionsSerializer
from apps.items.services import item_create, item_delete, item_update
from apps.tenants.api import TenantScopedAPIView, TenantScopedViewSet, key_access
from apps.tenants.authentication import ApiKeyAuthentication
from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.services import api_key_authenticate, origin_allowed, recall_key

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
        item = item_create(tenant=request.tenant, data=json_object(request.data))
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(examples=[ITEM_EXAMPLE])
    def partial_update(self, request: Request, key: str | None = None) -> Response:
        item = item_update(item=self.get_object(), data=json_object(request.data))
        return Response(ItemSerializer(item).data)

    @extend_schema(responses={204: None})
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


class OptionsView(TenantScopedAPIView):
    """The options of a connected item, for widgets (widget keys allowed, CORS for their
    origins). ``q``, ``filter`` and ``limit`` apply to the cached list and never cause an
    upstream call."""

    widget_access = True
    checks_key_stamp = True  # the key's stamp is read with the cached answer
    content_negotiation_class = JSONOnly

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
        params = request.query_params
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        check = api_key.stamp_check if api_key is not None else None
        try:
            answer = options_fetch(
                tenant_id=request.tenant.pk, key=key, params=params, key_check=check
            )
        except KeyCheckNeeded:
            self._confirm_key(request)
            check = None
            answer = options_fetch(tenant_id=request.tenant.pk, key=key, params=params)
        if check is not None and not answer.key_verified:
            self._confirm_key(request)
        options = refine(
            answer,
            q=params.get("q", ""),
            filter_expr=params.get("filter", ""),
            limit=params.get("limit"),
        )
        return HttpResponse(options_body(answer, options), content_type="application/json")

    @staticmethod
    def _confirm_key(request: Request) -> None:
        """Check a key taken from memory against the database (it may have been revoked)."""
        raw = ApiKeyAuthentication.raw_key(request) or ""
        if api_key_authenticate(raw=raw, verify=True) is None:
            raise AuthenticationFailed("The API key is not valid or has been revoked.")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # A plain cache hit for a remembered key and item is answered with one Redis round trip
        # (the key's and the tenant's stamps are read with the answer). Anything else — a first
        # call, a miss, a change, an error, a session — takes the full way below.
        fast = _fast_hit(request, kwargs.get("key", ""))
        return fast if fast is not None else super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        return _cors_and_cache_headers(response, key, request.headers.get("Origin"))


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


def _fast_hit(request: HttpRequest, key: str) -> HttpResponse | None:
    """Answer a call by a remembered key for a remembered item — a hit, a miss or an upstream
    error — without the API view's machinery; None sends the call the full way."""
    if request.method != "GET":
        return None
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return None
    recalled = recall_key(raw.strip())
    if recalled is None:
        return None
    api_key, key_check = recalled
    origin = request.META.get("HTTP_ORIGIN")
    try:
        if not key_access(api_key, widget_access=True, method="GET", origin=origin):
            return None
        ref = lookup.remembered_ref(api_key.tenant_id, key)
        if ref is None:
            return None
        params = request.GET
        cached = cached_hit(ref, params, key_check)
    except ApplicationError:
        return None  # the full view reports it, with the error body
    if not (cached.item_current and cached.key_current):
        return None
    try:
        answer = cached.answer or miss(ref, evaluate(ref, params))
        options = refine(
            answer,
            q=params.get("q", ""),
            filter_expr=params.get("filter", ""),
            limit=params.get("limit"),
        )
        response = HttpResponse(options_body(answer, options), content_type="application/json")
    except ApplicationError as exc:
        response = JsonResponse(exc.as_body(), status=exc.status)
        for name, value in exc.headers.items():
            response[name] = value
    return _cors_and_cache_headers(response, api_key, origin)
