"""The API's documentation: the OpenAPI schema (``/api/schema/``) and Swagger UI (``/api/docs/``),
for signed-in users and admin API keys, or for anyone when ``settings.API_DOCS_PUBLIC``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import permissions
from rest_framework.exceptions import NotAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.codes import ErrorCode
from apps.core.errors import Forbidden
from apps.tenants.models import ApiKey, ApiKeyScope


class ApiDocsAccess(permissions.BasePermission):
    """Anyone when the docs are public; else a signed-in user or an admin key (a widget key
    only ever calls the options endpoint: it has no use for the rest of the API's map)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        if isinstance(request.auth, ApiKey):
            if request.auth.scope != ApiKeyScope.ADMIN:
                raise Forbidden(
                    "A widget key may only call the options endpoint.",
                    code=ErrorCode.SCOPE_NOT_ALLOWED,
                )
            return True
        return bool(request.user and request.user.is_authenticated)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; 401 for a caller who is neither signed in nor holds an admin key."""

    permission_classes = [ApiDocsAccess]

    def handle_exception(self, exc: Exception):  # type: ignore[override]
        response = super().handle_exception(exc)
        # A refusal is the API's JSON error body, not an OpenAPI (YAML) document.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI under the site's strict Content-Security-Policy: the page has no inline
    script or style (its setup script is a second request to this view, its assets are the
    sidecar's static files). A browser that is not signed in is sent to the login page."""

    permission_classes = [ApiDocsAccess]
    template_name = "plugboard/swagger_ui.html"

    def handle_exception(self, exc: Exception):  # type: ignore[override]
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
