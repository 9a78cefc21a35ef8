"""The tenant-scoped base for DRF APIs: authentication, tenant resolution and access rules."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions, viewsets
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.codes import ErrorCode
from apps.core.errors import ApplicationError, Forbidden, NotFound
from apps.tenants.models import ApiKey, ApiKeyScope
from apps.tenants.scoping import (
    LAST_TENANT_SESSION_KEY,
    SAFE_METHODS,
    TenantScopedQuerysetMixin,
    bind_tenant,
)
from apps.tenants.selectors import membership_get
from apps.tenants.services import origin_allowed

TENANT_HEADER = "HTTP_X_PLUGBOARD_TENANT"


class TenantRequired(ApplicationError):
    code = ErrorCode.TENANT_REQUIRED
    status = 400
    message = (
        "Name the tenant with the X-Plugboard-Tenant header, or open the tenant in the UI first."
    )


def resolve_api_tenant(request: Request) -> None:
    """Bind the request's tenant: the API key's, or the session user's named one (else 404)."""
    if isinstance(request.auth, ApiKey):
        request.tenant = request.auth.tenant
        request._request.tenant = request.auth.tenant
        request.membership = None
        return
    slug = request.META.get(TENANT_HEADER) or request.session.get(LAST_TENANT_SESSION_KEY)
    if not slug:
        raise TenantRequired()
    membership = membership_get(user=request.user, slug=slug)
    if membership is None:
        raise NotFound("No such tenant.", code=ErrorCode.TENANT_NOT_FOUND)
    bind_tenant(request, membership)
    bind_tenant(request._request, membership)


def key_access(key: ApiKey, *, widget_access: bool, method: str, origin: str | None) -> bool:
    """Whether ``key`` may make this call; raises Forbidden with the reason when it may not."""
    if key.scope == ApiKeyScope.ADMIN:
        return True
    if not widget_access:
        raise Forbidden(
            "A widget key may only call the options endpoint.", code=ErrorCode.SCOPE_NOT_ALLOWED
        )
    if origin is not None and not origin_allowed(api_key=key, origin=origin):
        raise Forbidden(
            "This widget key is not allowed from this origin.",
            code=ErrorCode.ORIGIN_NOT_ALLOWED,
            details={"origin": origin},
        )
    return method in SAFE_METHODS


class TenantAccess(permissions.BasePermission):
    """Admin keys and owner/admin members may write; viewers read; widget keys only reach
    views that say ``widget_access = True``, and only from their allowed origins."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            return key_access(
                key,
                widget_access=getattr(view, "widget_access", False),
                method=request.method,
                origin=request.headers.get("Origin"),
            )
        membership = getattr(request, "membership", None)
        if membership is None:
            return False
        if request.method in SAFE_METHODS:
            return True
        if not membership.can_write:
            raise Forbidden(
                "Viewers can read but not change anything.", code=ErrorCode.READ_ONLY_ROLE
            )
        return True


class TenantScopedAPIMixin:
    """Mixed into every tenant API view: resolves the tenant right after authentication."""

    permission_classes = [permissions.IsAuthenticated, TenantAccess]
    widget_access = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)  # type: ignore[attr-defined]
        if request.user and request.user.is_authenticated:
            resolve_api_tenant(request)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class TenantScopedAPIView(TenantScopedAPIMixin, APIView):
    """An API view bound to one tenant, without a model."""


class TenantScopedViewSet(TenantScopedAPIMixin, TenantScopedQuerysetMixin, viewsets.GenericViewSet):
    """A viewset over one tenant-owned model; created objects belong to the request's tenant."""

    def perform_create(self, serializer: Any) -> None:
        serializer.save(tenant=self.request.tenant)
