"""The one tenant-scoped base for views and APIs.

Every query of tenant-owned data in a view goes through :meth:`TenantScopedQuerysetMixin.get_queryset`,
which always ends with ``.filter(tenant=request.tenant)``. Subclasses narrow the queryset in
``scope_queryset`` and cannot override ``get_queryset``: the class refuses to be defined.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase

from apps.tenants.models import Membership, Tenant
from apps.tenants.selectors import membership_get

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LAST_TENANT_SESSION_KEY = "plugboard_last_tenant"


class TenantScopedQuerysetMixin:
    """Querysets always filtered by the request's tenant."""

    model: type[Model] | None = None
    queryset: QuerySet | None = None
    tenant_field = "tenant"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(), which would bypass tenant scoping; "
                "override scope_queryset() instead."
            )

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        """Narrow or annotate the queryset; the tenant filter is applied afterwards."""
        return queryset

    def get_queryset(self) -> QuerySet:
        if self.queryset is not None:
            base = self.queryset.all()
        elif self.model is not None:
            base = self.model._default_manager.all()
        else:
            raise TypeError(f"{type(self).__name__} needs a model or a queryset.")
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation: no request tenant
            return base.none()
        tenant = getattr(self.request, "tenant", None)  # type: ignore[attr-defined]
        if not isinstance(tenant, Tenant):
            raise PermissionDenied("No tenant for this request.")
        return self.scope_queryset(base).filter(**{self.tenant_field: tenant})


class TenantRequiredMixin(AccessMixin):
    """For pages under /t/<tenant>/: log-in required, membership required (else 404),
    viewers may only read."""

    write_required = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = membership_get(user=request.user, slug=kwargs.get("tenant", ""))
        if membership is None:
            raise Http404("No such tenant.")
        bind_tenant(request, membership)
        request.session[LAST_TENANT_SESSION_KEY] = membership.tenant.slug
        if (self.write_required or request.method not in SAFE_METHODS) and not membership.can_write:
            raise PermissionDenied("Viewers cannot change anything.")
        return super().dispatch(request, *args, **kwargs)


def bind_tenant(request: HttpRequest, membership: Membership) -> None:
    request.tenant = membership.tenant  # type: ignore[attr-defined]
    request.membership = membership  # type: ignore[attr-defined]
