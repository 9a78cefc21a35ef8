"""A test-only URLconf: probe views built on the tenant-scoped API base."""

from django.urls import include, path
from rest_framework.response import Response

from apps.core.errors import ApplicationError
from apps.tenants.api_scoping import TenantScopedAPIView


class WidgetProbe(TenantScopedAPIView):
    widget_access = True

    def get(self, request):
        return Response({"tenant": request.tenant.slug})


class FailingProbe(TenantScopedAPIView):
    def get(self, request):
        if request.query_params.get("kind") == "app":
            raise ApplicationError(
                "The upstream took too long.", code="upstream_timeout", status=504, details={"s": 1}
            )
        raise RuntimeError("boom with a secret s3cr3t")


handler404 = "apps.core.views.not_found"
handler500 = "apps.core.views.server_failure"

urlpatterns = [
    path("api/v1/probe/widget/", WidgetProbe.as_view()),
    path("api/v1/probe/fail/", FailingProbe.as_view()),
    path("", include("config.urls")),
]
