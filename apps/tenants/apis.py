from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.payloads import writable_part
from apps.tenants.api_scoping import TenantScopedViewSet
from apps.tenants.models import ApiKey
from apps.tenants.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyInputSerializer,
    ApiKeyOutputSerializer,
)
from apps.tenants.services import api_key_create, api_key_revoke

# Fields of a read that a client may send back unchanged.
KEY_READ_ONLY = ("id", "prefix", "active", "created_at", "last_used_at", "revoked_at", "key")


@extend_schema_view(
    list=extend_schema(summary="List API keys"),
    retrieve=extend_schema(summary="Read an API key (never the key itself)"),
)
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """API keys of the tenant. Creating returns the key once; deleting revokes it. A widget key
    needs at least one allowed origin; names are unique among the tenant's active keys."""

    model = ApiKey
    serializer_class = ApiKeyOutputSerializer

    @extend_schema(
        summary="Create an API key (the key is in this answer only)",
        request=ApiKeyInputSerializer,
        responses={201: ApiKeyCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        writable = writable_part(
            dict(body), writable=ApiKeyInputSerializer().fields, read_only=KEY_READ_ONLY
        )
        data = ApiKeyInputSerializer(data=writable)
        data.is_valid(raise_exception=True)
        key, raw = api_key_create(
            tenant=request.tenant,
            scope=data.validated_data["scope"],
            name=data.validated_data.get("name", ""),
            origins=data.validated_data.get("allowed_origins", []),
            created_by=request.user if getattr(request.user, "pk", None) else None,
            widget_origin_required=True,
        )
        key.key = raw
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke an API key", responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        api_key_revoke(api_key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
